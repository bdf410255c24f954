"""Business-time arithmetic: add N business minutes to an instant.

Pure functions over a ``Schedule`` (weekly windows in local wall-clock time, holiday dates, a
``zoneinfo`` time zone); no database access, so they are tested in isolation.

Rules:
- Windows are wall-clock times of the organization's time zone; a day may have several.
- Holidays (local dates) have no business time.
- Minutes are *elapsed* minutes inside the windows: across a DST change, a window that
  contains the jump is one hour shorter or longer in real time, and results are exact UTC
  instants. A window edge that falls in a DST gap is read with the offset before the jump.
- A schedule without any window counts calendar time (24x7): an organization that has not
  configured business hours gets plain wall-clock targets instead of never-due ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC

# A schedule with windows but no business day for this long is a configuration error.
MAX_SEARCH_DAYS = 800


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    windows: dict[int, tuple[tuple[dt.time, dt.time], ...]] = field(default_factory=dict)  # weekday (Mon=0) -> windows
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        tz: str | ZoneInfo,
        windows: Iterable[tuple[int, dt.time, dt.time]] = (),
        holidays: Iterable[dt.date] = (),
    ) -> Schedule:
        by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for weekday, start, end in windows:
            if start >= end:
                raise ValueError(f"window {start}-{end} on weekday {weekday} ends before it starts")
            by_day.setdefault(weekday, []).append((start, end))
        merged = {day: tuple(sorted(spans)) for day, spans in by_day.items()}
        return cls(tz=tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz), windows=merged, holidays=frozenset(holidays))

    @property
    def is_always_open(self) -> bool:
        return not any(self.windows.values())


def _local_instant(day: dt.date, clock: dt.time, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, clock).replace(tzinfo=tz).astimezone(UTC)


def business_spans(schedule: Schedule, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The day's business windows as UTC instants (empty on holidays and closed days)."""
    if day in schedule.holidays:
        return []
    spans = []
    for start, end in schedule.windows.get(day.weekday(), ()):
        begin, finish = _local_instant(day, start, schedule.tz), _local_instant(day, end, schedule.tz)
        if finish > begin:
            spans.append((begin, finish))
    return spans


def add_business_time(start: dt.datetime, duration: dt.timedelta, schedule: Schedule) -> dt.datetime:
    """The instant when ``duration`` of business time has elapsed since ``start`` (aware)."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    if duration < dt.timedelta(0):
        raise ValueError("duration must not be negative")
    start = start.astimezone(UTC)
    if schedule.is_always_open or duration == dt.timedelta(0):
        return start + duration
    remaining = duration
    day = start.astimezone(schedule.tz).date() - dt.timedelta(days=1)  # a window may start the local day before
    for _ in range(MAX_SEARCH_DAYS):
        for begin, finish in business_spans(schedule, day):
            if finish <= start:
                continue
            begin = max(begin, start)
            available = finish - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        day += dt.timedelta(days=1)
    raise ValueError(f"no business time within {MAX_SEARCH_DAYS} days: check business hours and holidays")


def add_business_minutes(start: dt.datetime, minutes: float, schedule: Schedule) -> dt.datetime:
    return add_business_time(start, dt.timedelta(minutes=minutes), schedule)


def business_time_between(start: dt.datetime, end: dt.datetime, schedule: Schedule) -> dt.timedelta:
    """Business time elapsed from ``start`` to ``end`` (zero when ``end`` is not later)."""
    if end <= start:
        return dt.timedelta(0)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if schedule.is_always_open:
        return end - start
    total = dt.timedelta(0)
    day = start.astimezone(schedule.tz).date() - dt.timedelta(days=1)
    last = end.astimezone(schedule.tz).date()
    while day <= last:
        for begin, finish in business_spans(schedule, day):
            overlap = min(finish, end) - max(begin, start)
            if overlap > dt.timedelta(0):
                total += overlap
        day += dt.timedelta(days=1)
    return total
