"""Every write of the rollups: increments from the listeners, replacement of a day range by the rebuild.

``rollup_add`` is one ``INSERT … ON CONFLICT DO UPDATE SET count = count + excluded.count``: two
transactions counting into the same cell both land (the second waits on the row lock and adds
to the committed value), so concurrent events are counted exactly. Cells are written in key order,
so two transactions touching the same cells cannot deadlock.

``rollups_rebuild`` replaces the rows of a day range, one day per transaction, with what the
raw rows say (each app's rebuilder, see ``registry.py``): running it twice gives the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable

from django.db import connection, transaction

from accounts.models import Organization
from conversations.reports.facts import Fact
from conversations.reports.models import DailyRollup

_REBUILD_LOCK = 17_120_001  # pg_advisory_xact_lock(class, organization): one rebuild per organization
_TABLE = DailyRollup._meta.db_table
_COLUMNS = "organization_id, metric, day, key, queue_id, agent_id, channel_id, count, total"
_CONFLICT = "organization_id, metric, day, key, queue_id, agent_id, channel_id"


def _merged(facts: Iterable[Fact]) -> list[tuple]:
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for fact in facts:
        cell = cells[fact.cell]
        cell[0] += fact.count
        cell[1] += fact.total
    return [(*cell, count, total) for cell, (count, total) in sorted(cells.items())]


def rollup_add(facts: Iterable[Fact]) -> int:
    """Add ``facts`` to their cells (one statement); returns how many cells were written."""
    rows = _merged(facts)
    if not rows:
        return 0
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES {values} "
        f"ON CONFLICT ({_CONFLICT}) DO UPDATE SET "
        f"count = {_TABLE}.count + EXCLUDED.count, total = {_TABLE}.total + EXCLUDED.total"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
    return len(rows)


def rollup_replace(
    *, organization_id: int, metrics: Iterable[str], day_from: dt.date, day_to: dt.date, facts: Iterable[Fact]
) -> int:
    """Make the cells of ``metrics`` over ``day_from..day_to`` exactly ``facts`` (inside the caller's
    transaction): the rows are deleted and written again. Returns how many cells were written."""
    metrics = list(metrics)
    DailyRollup.objects.filter(
        organization_id=organization_id, metric__in=metrics, day__gte=day_from, day__lte=day_to
    ).delete()
    rows = [row for row in _merged(facts) if row[7] or row[8]]
    for row in rows:
        if row[0] != organization_id or row[1] not in metrics or not day_from <= row[2] <= day_to:
            raise ValueError(f"rebuild fact outside its range: {row}")
    DailyRollup.objects.bulk_create(
        [
            DailyRollup(
                organization_id=row[0],
                metric=row[1],
                day=row[2],
                key=row[3],
                queue_id=row[4],
                agent_id=row[5],
                channel_id=row[6],
                count=row[7],
                total=row[8],
            )
            for row in rows
        ],
        batch_size=2000,
    )
    return len(rows)


def _lock_rebuild(organization_id: int) -> None:
    """One rebuild of an organization at a time (a second waits for the first's day to finish)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_REBUILD_LOCK, organization_id])


def rollups_rebuild(
    *,
    organization: Organization,
    day_from: dt.date,
    day_to: dt.date,
    progress: Callable[[dt.date, int], None] | None = None,
) -> int:
    """Recompute every rollup of ``organization`` for ``day_from..day_to`` from the raw rows.

    Idempotent: each local day is replaced in its own transaction by what every registered
    rebuilder computes for it. ``progress(day, cells)`` is called after each day. Returns the
    number of cells written.
    """
    from conversations.reports import registry

    if day_from > day_to:
        raise ValueError("day_from is after day_to")
    written = 0
    day = day_from
    while day <= day_to:
        written_today = 0
        with transaction.atomic():
            _lock_rebuild(organization.pk)
            for rebuilder in registry.rebuilders():
                written_today += rollup_replace(
                    organization_id=organization.pk,
                    metrics=rebuilder.metrics,
                    day_from=day,
                    day_to=day,
                    facts=rebuilder.facts(organization, day, day),
                )
        written += written_today
        if progress is not None:
            progress(day, written_today)
        day += dt.timedelta(days=1)
    return written
