from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.retention import apply_retention


class Command(BaseCommand):
    help = (
        "Apply each organization's retention: archive idle closed conversations, purge old finished "
        "notification log rows and audit log entries (the Beat job does this daily)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Only this organization (by slug).")
        parser.add_argument("--dry-run", action="store_true", help="Count what is due; change nothing.")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows per transaction (default: RETENTION_BATCH_SIZE)."
        )

    def handle(self, *args, org=None, dry_run=False, batch_size=None, **options):
        organization = None
        if org is not None:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organization with the slug {org!r}.")
        if batch_size is not None and not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000.")
        report = apply_retention(
            organization=organization, batch_size=batch_size, dry_run=dry_run, progress=self.stdout.write
        )
        steps = sorted({name for _slug, name in report.counts})
        summary = ", ".join(f"{name}: {report.total(name)}" for name in steps)
        prefix = "Dry run, nothing changed. Due" if dry_run else "Done"
        self.stdout.write(self.style.SUCCESS(f"{prefix}: {summary}."))
