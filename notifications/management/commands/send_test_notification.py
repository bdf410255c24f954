from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Organization, User
from notifications import services
from notifications.models import Status
from notifications.registry import Channel


class Command(BaseCommand):
    help = (
        "Send a 'test' notification to one member of an organization through the normal path "
        "(preferences, quiet hours, limits, outbox, worker) and print each decision. "
        "With --now, deliver in this process instead of waiting for a worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="the member's email address")
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument(
            "--channel",
            action="append",
            choices=Channel.values,
            dest="channels",
            help="channel to use (repeatable; default: email)",
        )
        parser.add_argument("--now", action="store_true", help="deliver the pending rows here, without a worker")

    def handle(self, *args, email, org, channels, now, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organization with slug {org!r}.")
        user = User.objects.filter(email__iexact=email).first()
        if user is None or not Membership.objects.for_organization(organization).filter(user=user).exists():
            raise CommandError(f"{email} is not a member of {organization.slug}.")
        rows = services.notification_send_test(
            organization=organization, user=user, channels=channels or [Channel.EMAIL]
        )
        for row in rows:
            detail = (
                row.recipient
                if row.status == Status.PENDING
                else f"{row.reason} {row.scheduled_at:%Y-%m-%d %H:%M %Z}".strip()
            )
            self.stdout.write(f"#{row.pk} {row.channel}: {row.status} {detail}")
            if now and row.status == Status.PENDING:
                outcome = services.notification_deliver(log_id=row.pk)
                row.refresh_from_db()
                line = f"  → {row.status}" + (f": {row.error}" if row.error else "")
                self.stdout.write(self.style.SUCCESS(line) if row.status == Status.SENT else self.style.WARNING(line))
                if outcome.retry_in is not None:
                    self.stdout.write(f"  a worker or the relay retries it in {outcome.retry_in:.0f} s")
        if not now:
            self.stdout.write("Queued; a running worker delivers the pending rows (or use --now).")
