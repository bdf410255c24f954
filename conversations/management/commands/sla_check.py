"""Run one SLA sweep now: raise every warning and breach that has fallen due."""

from django.core.management.base import BaseCommand, CommandError

from conversations import services


class Command(BaseCommand):
    help = (
        "Run one SLA sweep (what Celery Beat runs every minute): raise each due first-response/resolution "
        "warning and breach exactly once, and print how many were raised."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows locked and raised per transaction (default: SLA_SWEEP_BATCH_SIZE).",
        )

    def handle(self, *args, batch_size=None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be a positive number.")
        self.stdout.write("Sweeping conversations whose SLA warning or breach is due…")
        raised = services.sla_sweep(batch_size=batch_size)
        for key, count in raised.items():
            event, kind = key.split(":")
            self.stdout.write(f"  {event} {kind}: {count}")
        total = sum(raised.values())
        self.stdout.write(
            self.style.SUCCESS(f"Raised {total} SLA event(s).") if total else "Raised nothing: no SLA was due."
        )
