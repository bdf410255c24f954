"""``manage.py ai_usage``: AI calls and tokens per organization and month."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from conversations.assistant import selectors


class Command(BaseCommand):
    help = "AI calls and tokens per organization and month (in each organization's time zone)."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Only this organization (its slug or id).")
        parser.add_argument("--months", type=int, default=1, help="How many months back, this one included (1-24).")

    def handle(self, *args, organization=None, months=1, **options):
        if not 1 <= months <= 24:
            raise CommandError("--months must be between 1 and 24.")
        organizations = Organization.objects.order_by("name")
        if organization:
            lookup = {"pk": int(organization)} if organization.isdigit() else {"slug": organization}
            organizations = organizations.filter(**lookup)
            if not organizations.exists():
                raise CommandError(f"No organization {organization!r}.")
        header = f"{'organization':30} {'month':8} {'calls':>7} {'failed':>7} {'tokens in':>11} {'tokens out':>11} {'budget':>11} {'cost USD':>12}"
        self.stdout.write(header)
        for org in organizations:
            budget = selectors.settings_for(org).monthly_token_budget
            for row in selectors.usage_by_month(organization=org, months=months):
                self.stdout.write(
                    f"{org.name[:30]:30} {row['month']:%Y-%m}  {row['calls']:>7} {row['failed']:>7} "
                    f"{row['tokens_in']:>11} {row['tokens_out']:>11} {budget if budget is not None else '-':>11} "
                    f"{format(row['cost'], '.6f') if row['cost'] is not None else '-':>12}"
                )
