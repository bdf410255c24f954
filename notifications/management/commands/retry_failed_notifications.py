import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Organization
from notifications import services
from notifications.models import NotificationLog, Status


class Command(BaseCommand):
    help = (
        "Resend failed notifications as new rows (each failed row at most once) and run the outbox relay "
        "once: lost pending rows are queued again and due deferred rows released."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug (default: every organization)")
        parser.add_argument("--hours", type=int, default=24, help="only rows created in the last N hours (default 24)")
        parser.add_argument("--limit", type=int, default=1000, help="resend at most N rows (default 1000)")
        parser.add_argument("--dry-run", action="store_true", help="list what would be resent; change nothing")
        parser.add_argument("--no-relay", action="store_true", help="do not run the relay")

    def handle(self, *args, org, hours, limit, dry_run, no_relay, **options):
        if hours < 1 or limit < 1:
            raise CommandError("--hours and --limit must be positive.")
        organization = None
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organization with slug {org!r}.")
        since = timezone.now() - datetime.timedelta(hours=hours)
        if dry_run:
            queryset = NotificationLog.objects.filter(status=Status.FAILED, created_at__gte=since)
            if organization is not None:
                queryset = queryset.filter(organization=organization)
            for row in queryset.order_by("id")[:limit]:
                self.stdout.write(
                    f"would resend #{row.pk} {row.event_type} {row.channel} → {row.recipient}: {row.error[:80]}"
                )
            self.stdout.write(f"{min(queryset.count(), limit)} failed row(s); nothing changed (dry run).")
            return
        copies = services.notification_retry_failed(organization=organization, since=since, limit=limit)
        for index, _copy in enumerate(copies, 1):
            if index % 100 == 0 or index == len(copies):
                self.stdout.write(f"resent {index}/{len(copies)}")
        self.stdout.write(self.style.SUCCESS(f"{len(copies)} failed notification(s) queued again."))
        if not no_relay:
            self.stdout.write(f"relay: {services.notification_relay()}")
