from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from scheduling import services


class Command(BaseCommand):
    help = (
        "Send the appointment reminders that are due now, once (what the Beat job 'appointment reminders' runs "
        "every minute). Each reminder is sent exactly once, even if runs overlap."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            help="Pretend the current time is this ISO 8601 instant with an offset (e.g. 2030-01-02T09:00:00-03:00).",
        )
        parser.add_argument(
            "--limit", type=int, default=1000, help="Look at most at this many due appointments (default 1000)."
        )

    def handle(self, *args, now=None, limit=1000, **options):
        moment = None
        if now:
            moment = parse_datetime(now)
            if moment is None or moment.tzinfo is None:
                raise CommandError(f"--now must be an ISO 8601 date and time with an offset, got {now!r}")
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        self.stdout.write("Looking for due appointment reminders…")
        sent = services.reminders_send_due(now=moment, limit=limit)
        self.stdout.write(self.style.SUCCESS(f"{sent} reminder(s) sent."))
