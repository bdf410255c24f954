"""Recompute an organization's report rollups for a date range from the raw rows (idempotent)."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from conversations.reports.forms import EARLIEST
from conversations.reports.services import rollups_rebuild

MAX_DAYS = 3660


def _date(value: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{name} must be a date as YYYY-MM-DD, not {value!r}.") from None
    if day < EARLIEST or day.year > 2100:
        raise CommandError(f"{name} must be between {EARLIEST.isoformat()} and 2100-12-31.")
    return day


class Command(BaseCommand):
    help = (
        "Rebuild the report rollups of one organization for the local days --from..--to (inclusive) from "
        "conversations, messages, the audit log, contacts and appointments. Safe to run again: each day is "
        "replaced in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization slug or id.")
        parser.add_argument("--from", dest="day_from", required=True, help="First day (YYYY-MM-DD, organization time).")
        parser.add_argument("--to", dest="day_to", required=True, help="Last day (YYYY-MM-DD, inclusive).")

    def handle(self, *args, org, day_from, day_to, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None and org.isdigit():
            organization = Organization.objects.filter(pk=int(org)).first()
        if organization is None:
            raise CommandError(f"No organization with slug or id {org!r}.")
        start, end = _date(day_from, "--from"), _date(day_to, "--to")
        if start > end:
            raise CommandError("--from is after --to.")
        days = (end - start).days + 1
        if days > MAX_DAYS:
            raise CommandError(f"At most {MAX_DAYS} days per run; split the range.")
        self.stdout.write(f"Rebuilding {organization.slug} from {start} to {end} ({days} day(s))…")
        began = time.monotonic()
        done = 0

        def progress(day: dt.date, cells: int) -> None:
            nonlocal done
            done += 1
            self.stdout.write(f"  [{done}/{days}] {day}: {cells} cell(s)")

        written = rollups_rebuild(organization=organization, day_from=start, day_to=end, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(f"Rebuilt {days} day(s), {written} cell(s) in {time.monotonic() - began:.1f} s.")
        )
