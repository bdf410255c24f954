"""Pure decision rules: quiet hours in a time zone and rolling hourly limits.

No database access here: ``services`` gathers the facts (preferences, counts) in bulk and asks
these functions what to do, so that the rules are tested on their own.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

UTC = datetime.UTC
HOUR = datetime.timedelta(hours=1)


def _aware_local(day: datetime.date, at: datetime.time, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The first instant at or after ``day at`` local time that exists in ``tz``.

    In a DST gap (e.g. 02:30 on a spring-forward night) the wall time does not exist; the window
    then ends when the clocks jump, the first existing local time after it.
    """
    local = datetime.datetime.combine(day, at, tzinfo=tz)
    for _minute in range(24 * 60):
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
            return local
        local = local + datetime.timedelta(minutes=1)
    return local


def quiet_hours_end(
    now: datetime.datetime, *, start: datetime.time, end: datetime.time, tz: zoneinfo.ZoneInfo
) -> datetime.datetime | None:
    """The UTC instant the quiet window containing ``now`` ends, or ``None`` outside quiet hours.

    ``start``/``end`` are wall-clock times in ``tz`` (the user's zone); a window with
    ``start > end`` runs over midnight (22:00–08:00). The end is computed as a local wall time on
    the right local day and only then converted to UTC, so a DST change during the night moves the
    UTC instant, not the local one. ``start == end`` means no window.
    """
    if start == end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        if start <= t < end:
            return _aware_local(today, end, tz).astimezone(UTC)
        return None
    if t >= start:
        return _aware_local(today + datetime.timedelta(days=1), end, tz).astimezone(UTC)
    if t < end:
        return _aware_local(today, end, tz).astimezone(UTC)
    return None


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    next_slot: datetime.datetime | None = None


def rolling_hour_limit(now: datetime.datetime, *, limit: int, recent: Sequence[datetime.datetime]) -> RateDecision:
    """Allow a send at ``now`` if fewer than ``limit`` of ``recent`` fall in the last rolling hour.

    ``recent`` are the scheduled times of the rows counted against the limit (sent, sending or
    pending) within ``(now - 1 h, now]``. Over the limit, the next slot is when the oldest of the
    newest ``limit`` rows ages out of the window: from then on one more row fits. Rows deferred to
    that slot are decided again when released, so a burst of deferred rows never exceeds the limit.
    """
    window = sorted(t for t in recent if now - HOUR < t <= now)
    if len(window) < limit:
        return RateDecision(True)
    oldest_that_must_age_out = window[len(window) - limit]
    return RateDecision(False, oldest_that_must_age_out + HOUR + datetime.timedelta(microseconds=1))
