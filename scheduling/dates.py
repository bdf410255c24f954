"""Dates and instants read from requests: parsed and range-checked once, for every scheduling view.

Python's dates end at years 1 and 9999; a week view, a time zone conversion or a slot window
near those edges overflows (``OverflowError``). Every date a page or a form reads therefore
goes through these functions, which accept only ``EARLIEST``..``LATEST`` — far wider than any
calendar or booking needs, far enough from the edges for every computation on them.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

EARLIEST = datetime.date(1900, 1, 1)
LATEST = datetime.date(2999, 12, 31)


def range_message() -> str:
    return _("Enter a date between %(earliest)s and %(latest)s.") % {
        "earliest": EARLIEST.isoformat(),
        "latest": LATEST.isoformat(),
    }


def in_range(day: datetime.date) -> bool:
    return EARLIEST <= day <= LATEST


def parse_date(value: str | None) -> datetime.date | None:
    """An ISO date (``2025-03-01``) in range; ``None`` if ``value`` is empty.

    Raises ``ValidationError`` (with the range in its message) for anything else.
    """
    if not value:
        return None
    try:
        day = datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value[:40]}) from None
    if not in_range(day):
        raise ValidationError(range_message())
    return day


def date_or_default(value: str | None, default: datetime.date | None) -> datetime.date | None:
    """For pages that are better served showing the default than an error (links, navigation)."""
    try:
        return parse_date(value) or default
    except ValidationError:
        return default


def parse_instant(value: str | None, *, tz: datetime.tzinfo | None = None) -> datetime.datetime | None:
    """An ISO 8601 date and time in range, as an aware UTC datetime; ``None`` if ``value`` is empty.

    A time without an offset is read in ``tz``; without ``tz`` an offset is required. Raises
    ``ValidationError`` for anything else.
    """
    if not value:
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None or (parsed.tzinfo is None and tz is None):
        raise ValidationError(_("Enter a date and time."))
    if not in_range(parsed.date()):
        raise ValidationError(range_message())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(datetime.UTC)
