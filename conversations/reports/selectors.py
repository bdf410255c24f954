"""Reads of the rollups for the report pages: always one organization, a day range and the filters.

``ReportQuery`` is what a page asks for: the period and the one before it (for comparison), the
filters (queue, department, agent, channel) and, for an agent, their own user id — then every
figure is of their own work.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from django.db.models import QuerySet, Sum

from accounts.models import Organization
from conversations.reports import buckets
from conversations.reports.models import DailyRollup


@dataclass(frozen=True)
class Period:
    day_from: dt.date
    day_to: dt.date

    @property
    def days(self) -> int:
        return (self.day_to - self.day_from).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        end = self.day_from - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)

    def each_day(self) -> list[dt.date]:
        return [self.day_from + dt.timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True)
class ReportQuery:
    organization: Organization
    period: Period
    queue_ids: tuple[int, ...] | None = None  # a queue, or a department's queues
    agent_id: int | None = None
    channel_id: int | None = None
    own_agent_id: int | None = None  # an agent sees their own figures only
    extra: dict = field(default_factory=dict)

    @property
    def agent(self) -> int | None:
        return self.own_agent_id or self.agent_id

    def for_period(self, period: Period) -> ReportQuery:
        return replace(self, period=period)


def rollups(query: ReportQuery, metrics: Iterable[str], *, agents: bool = True) -> QuerySet[DailyRollup]:
    """The rollup rows of ``metrics`` the query covers. ``agents=False``: metrics without an agent
    (conversations opened, inbound messages), which the agent filter does not narrow."""
    rows = DailyRollup.objects.filter(
        organization=query.organization,
        metric__in=list(metrics),
        day__gte=query.period.day_from,
        day__lte=query.period.day_to,
    )
    if query.queue_ids is not None:
        rows = rows.filter(queue_id__in=query.queue_ids)
    if query.channel_id:
        rows = rows.filter(channel_id=query.channel_id)
    if query.agent and agents:
        rows = rows.filter(agent_id=query.agent)
    return rows


def totals(query: ReportQuery, metrics: Iterable[str], *by: str, agents: bool = True) -> dict[tuple, tuple[int, int]]:
    """``{(metric, *by values): (count, total)}`` summed over the query's cells."""
    rows = (
        rollups(query, metrics, agents=agents)
        .values("metric", *by)
        .annotate(n=Sum("count"), t=Sum("total"))
        .order_by()
        .values_list("metric", *by, "n", "t")
    )
    return {tuple(row[:-2]): (int(row[-2] or 0), int(row[-1] or 0)) for row in rows}


def count_of(values: dict[tuple, tuple[int, int]], *key) -> int:
    return values.get(tuple(key), (0, 0))[0]


@dataclass(frozen=True)
class Durations:
    count: int
    mean: float | None
    median: float | None
    p90: float | None


def durations(histogram: dict[int, tuple[int, int]]) -> Durations:
    n = sum(count for count, _ in histogram.values())
    total = sum(total for _, total in histogram.values())
    return Durations(
        n,
        total / n if n else None,
        buckets.percentile(histogram, 0.5),
        buckets.percentile(histogram, 0.9),
    )


def histograms(query: ReportQuery, metrics: Iterable[str], *by: str) -> dict[tuple, dict[int, tuple[int, int]]]:
    """``{(metric, *by values): {bucket: (count, total)}}`` for duration metrics."""
    found: dict[tuple, dict[int, tuple[int, int]]] = defaultdict(dict)
    for key, value in totals(query, metrics, *by, "key").items():
        metric, *rest, bucket = key
        found[(metric, *rest)][int(bucket)] = value
    return found


def queue_ids_of_department(organization: Organization, department_id: int) -> tuple[int, ...]:
    from accounts.models import Queue

    return tuple(
        Queue.objects.filter(organization=organization, department_id=department_id).values_list("pk", flat=True)
    )
