import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from notifications import selectors
from notifications.models import Status
from notifications.registry import Channel


class Command(BaseCommand):
    help = "Print notification counts by status and channel, by event type, retries and failure rate."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug (default: every organization)")
        parser.add_argument(
            "--hours", type=int, default=24, help="rows created in the last N hours (default 24; 0 = all)"
        )

    def handle(self, *args, org, hours, **options):
        if hours < 0:
            raise CommandError("--hours must be 0 or more.")
        organization = None
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organization with slug {org!r}.")
        since = timezone.now() - datetime.timedelta(hours=hours) if hours else None
        stats = selectors.notification_stats(organization=organization, since=since)
        scope = organization.slug if organization else "all organizations"
        window = f"last {hours} h" if hours else "all time"
        self.stdout.write(self.style.MIGRATE_HEADING(f"Notifications · {scope} · {window}"))
        channels = list(Channel.values)
        self.stdout.write(f"{'status':<10}" + "".join(f"{c:>10}" for c in channels) + f"{'total':>10}")
        for status in Status.values:
            counts = [stats["by_status_channel"].get((status, c), 0) for c in channels]
            if any(counts):
                self.stdout.write(f"{status:<10}" + "".join(f"{n:>10}" for n in counts) + f"{sum(counts):>10}")
        self.stdout.write("")
        for name, count in sorted(stats["by_type"].items(), key=lambda item: -item[1]):
            self.stdout.write(f"{name:<26}{count:>8}")
        rate = (stats["failed"] / stats["out"] * 100) if stats["out"] else 0.0
        self.stdout.write("")
        self.stdout.write(
            f"total {stats['total']} · retried {stats['retried']} · failed {stats['failed']} ({rate:.1f}% of finished) · overdue {stats['overdue']}"
        )
