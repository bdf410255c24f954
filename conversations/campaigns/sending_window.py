"""The optional daily send window, in the organization's time zone (DST-correct)."""

from __future__ import annotations

import datetime
import zoneinfo


def window_next_open(
    *, now: datetime.datetime, start: datetime.time | None, end: datetime.time | None, tz: zoneinfo.ZoneInfo
) -> datetime.datetime:
    """``now`` when sending is allowed at ``now``, else the next moment the window opens (aware, UTC).

    The window is wall-clock time in ``tz``: 09:00–18:00 stays 09:00–18:00 local on both sides of a
    DST change. ``end`` before ``start`` is a window over midnight (22:00–06:00). A wall-clock start
    that does not exist on a day (skipped by DST) opens at the first valid moment after it.
    """
    if start is None or end is None or start == end:
        return now
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if inside:
        return now
    day = local.date()
    candidate = _wall(day, start, tz)
    if candidate <= now:
        candidate = _wall(day + datetime.timedelta(days=1), start, tz)
    return candidate.astimezone(datetime.UTC)


def _wall(day: datetime.date, at: datetime.time, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """``day`` at wall-clock ``at`` in ``tz``. A time skipped by DST (fold=0 takes the offset before
    the gap) lands on the real instant just after the gap, e.g. 02:30 → 03:30 on a spring-forward day."""
    return datetime.datetime.combine(day, at).replace(tzinfo=tz)
