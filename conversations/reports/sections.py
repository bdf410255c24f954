"""The report pages of conversations, and the shapes every app's report section returns.

A ``Section`` builds a ``Report`` for a ``ReportQuery``: headline figures (``Kpi``, each with the
previous period's value) and tables (``Table``). A table is what the page shows beside its chart
(the accessible form of the same numbers), what the CSV export streams and what the JSON holds,
so a figure is computed once. ``Table.chart`` says how the page draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import User
from conversations.models import DeliveryStatus, MessageKind
from conversations.reports import facts
from conversations.reports.selectors import ReportQuery, count_of, durations, histograms, totals

COUNT, PERCENT, DURATION, MONEY, TEXT, DAY = "count", "percent", "duration", "money", "text", "day"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = COUNT


@dataclass(frozen=True)
class Chart:
    kind: str  # "line" | "bar" | "stacked" | "doughnut"
    series: tuple[str, ...]  # column keys drawn; the first column is the x axis


@dataclass
class Table:
    slug: str
    title: str
    columns: list[Column]
    rows: list[list]
    chart: Chart | None = None

    @property
    def is_empty(self) -> bool:
        return not any(any(value for value in row[1:]) for row in self.rows)


@dataclass(frozen=True)
class Kpi:
    label: str
    value: float | int | None
    previous: float | int | None
    unit: str = COUNT
    lower_is_better: bool = False

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous in (None, 0):
            return None
        return (self.value - self.previous) / self.previous * 100


@dataclass
class Report:
    kpis: list[Kpi] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    note: str = ""

    @property
    def is_empty(self) -> bool:
        return all(table.is_empty for table in self.tables) and not any(k.value for k in self.kpis)

    def table(self, slug: str) -> Table | None:
        return next((t for t in self.tables if t.slug == slug), None)


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    position: int
    build: Callable[[ReportQuery], Report]
    for_agents: bool = True  # agents see this section, narrowed to their own figures


def ratio(part: int, whole: int) -> float | None:
    return part / whole * 100 if whole else None


def _daily(query: ReportQuery, metrics, *, agents: bool = True) -> dict[tuple, tuple[int, int]]:
    return totals(query, metrics, "day", agents=agents)


# --- overview -----------------------------------------------------------------------------------

_DURATIONS = (facts.FIRST_RESPONSE, facts.FIRST_RESPONSE_BUSINESS, facts.RESOLUTION, facts.RESOLUTION_BUSINESS)


def _headline(query: ReportQuery) -> dict:
    counts = totals(query, (facts.CLOSED, facts.REOPENED, facts.MESSAGES_OUT, facts.DELIVERY), "key")
    unagented = totals(query, (facts.OPENED, facts.MESSAGES_IN, facts.CONTACTS), agents=False)
    sla = totals(query, (facts.SLA_FIRST_RESPONSE,), "key")
    hist = histograms(query, (facts.FIRST_RESPONSE, facts.RESOLUTION))
    out = sum(n for (metric, _key), (n, _t) in counts.items() if metric == facts.MESSAGES_OUT)
    delivered = sum(
        n
        for (metric, key), (n, _t) in counts.items()
        if metric == facts.DELIVERY and key in (DeliveryStatus.DELIVERED, DeliveryStatus.READ)
    )
    met, breached = count_of(sla, facts.SLA_FIRST_RESPONSE, "met"), count_of(sla, facts.SLA_FIRST_RESPONSE, "breached")
    return {
        "opened": count_of(unagented, facts.OPENED),
        "closed": count_of(counts, facts.CLOSED, ""),
        "reopened": count_of(counts, facts.REOPENED, ""),
        "first_response": durations(hist.get((facts.FIRST_RESPONSE,), {})).median,
        "resolution": durations(hist.get((facts.RESOLUTION,), {})).median,
        "sla": ratio(met, met + breached),
        "messages_in": count_of(unagented, facts.MESSAGES_IN),
        "messages_out": out,
        "delivery": ratio(delivered, out),
        "contacts": count_of(unagented, facts.CONTACTS),
    }


def overview(query: ReportQuery) -> Report:
    now, before = _headline(query), _headline(query.for_period(query.period.previous()))

    def kpi(key, label, unit=COUNT, lower=False):
        return Kpi(label, now[key], before[key], unit, lower)

    kpis = [
        kpi("opened", _("Conversations opened")),
        kpi("closed", _("Conversations closed")),
        kpi("reopened", _("Reopened"), lower=True),
        kpi("first_response", _("Median first response"), DURATION, True),
        kpi("resolution", _("Median resolution time"), DURATION, True),
        kpi("sla", _("First response SLA hit rate"), PERCENT),
        kpi("messages_in", _("Messages received")),
        kpi("messages_out", _("Messages sent")),
        kpi("delivery", _("Delivery rate"), PERCENT),
        kpi("contacts", _("New contacts")),
    ]
    if query.agent:
        kpis = [
            k for k in kpis if k.label not in (_("Conversations opened"), _("Messages received"), _("New contacts"))
        ]
    opened = _daily(query, (facts.OPENED,), agents=False)
    closed = _daily(query, (facts.CLOSED,))
    rows = [
        [day, count_of(opened, facts.OPENED, day), count_of(closed, facts.CLOSED, day)]
        for day in query.period.each_day()
    ]
    columns = [
        Column("day", _("Day"), DAY),
        Column("opened", _("Opened")),
        Column("closed", pgettext_lazy("conversations", "Closed")),
    ]
    table = Table("daily", _("Conversations per day"), columns, rows, Chart("line", ("opened", "closed")))
    return Report(kpis=kpis, tables=[table])


# --- conversations ------------------------------------------------------------------------------


def conversations(query: ReportQuery) -> Report:
    counts = _daily(query, (facts.CLOSED, facts.REOPENED))
    opened = _daily(query, (facts.OPENED,), agents=False)
    hist = histograms(query, _DURATIONS, "day")
    rows = []
    for day in query.period.each_day():
        rows.append(
            [
                day,
                count_of(opened, facts.OPENED, day),
                count_of(counts, facts.CLOSED, day),
                count_of(counts, facts.REOPENED, day),
                durations(hist.get((facts.FIRST_RESPONSE, day), {})).median,
                durations(hist.get((facts.FIRST_RESPONSE_BUSINESS, day), {})).median,
                durations(hist.get((facts.RESOLUTION, day), {})).median,
                durations(hist.get((facts.RESOLUTION_BUSINESS, day), {})).median,
            ]
        )
    all_hist: dict[tuple, dict[int, tuple[int, int]]] = {}
    for (metric, _day), by_bucket in hist.items():  # the period's histograms: the days' added up
        into = all_hist.setdefault((metric,), {})
        for bucket, (count, total) in by_bucket.items():
            seen = into.get(bucket, (0, 0))
            into[bucket] = (seen[0] + count, seen[1] + total)
    summary = []
    for metric, label in (
        (facts.FIRST_RESPONSE, _("First response (calendar time)")),
        (facts.FIRST_RESPONSE_BUSINESS, _("First response (business time)")),
        (facts.RESOLUTION, _("Resolution (calendar time)")),
        (facts.RESOLUTION_BUSINESS, _("Resolution (business time)")),
    ):
        d = durations(all_hist.get((metric,), {}))
        summary.append([label, d.count, d.mean, d.median, d.p90])
    opened_total = sum(r[1] for r in rows)
    closed_total = sum(r[2] for r in rows)
    previous = conversations_totals(query.for_period(query.period.previous()))
    kpis = [
        Kpi(_("Opened"), opened_total, previous[0]),
        Kpi(pgettext_lazy("conversations", "Closed"), closed_total, previous[1]),
        Kpi(_("Reopened"), sum(r[3] for r in rows), previous[2], lower_is_better=True),
        Kpi(_("Resolution rate"), ratio(closed_total, opened_total), ratio(previous[1], previous[0]), PERCENT),
    ]
    return Report(
        kpis=kpis,
        tables=[
            Table(
                "daily",
                _("Conversations per day"),
                [
                    Column("day", _("Day"), DAY),
                    Column("opened", _("Opened")),
                    Column("closed", pgettext_lazy("conversations", "Closed")),
                    Column("reopened", _("Reopened")),
                    Column("first_response", _("Median first response"), DURATION),
                    Column("first_response_business", _("Median first response (business)"), DURATION),
                    Column("resolution", _("Median resolution"), DURATION),
                    Column("resolution_business", _("Median resolution (business)"), DURATION),
                ],
                rows,
                Chart("line", ("opened", "closed", "reopened")),
            ),
            Table(
                "times",
                _("Response and resolution times"),
                [
                    Column("measure", _("Measure"), TEXT),
                    Column("count", _("Conversations")),
                    Column("mean", _("Average"), DURATION),
                    Column("median", _("Median"), DURATION),
                    Column("p90", _("90th percentile"), DURATION),
                ],
                summary,
            ),
        ],
    )


def conversations_totals(query: ReportQuery) -> tuple[int, int, int]:
    counts = totals(query, (facts.CLOSED, facts.REOPENED))
    opened = totals(query, (facts.OPENED,), agents=False)
    return count_of(opened, facts.OPENED), count_of(counts, facts.CLOSED), count_of(counts, facts.REOPENED)


# --- agents -------------------------------------------------------------------------------------


def agents(query: ReportQuery) -> Report:
    counts = totals(query, (facts.CLOSED, facts.MESSAGES_OUT), "agent_id")
    hist = histograms(query, (facts.FIRST_RESPONSE, facts.RESOLUTION), "agent_id")
    sla = totals(query, (facts.SLA_FIRST_RESPONSE,), "agent_id", "key")
    ids = {key[1] for key in counts} | {key[1] for key in hist} | {key[1] for key in sla}
    ids.discard(0)
    names = {user.pk: user.get_full_name() or user.email for user in User.objects.filter(pk__in=ids)}
    rows = []
    for agent_id in ids:
        fr = durations(hist.get((facts.FIRST_RESPONSE, agent_id), {}))
        res = durations(hist.get((facts.RESOLUTION, agent_id), {}))
        met = count_of(sla, facts.SLA_FIRST_RESPONSE, agent_id, "met")
        breached = count_of(sla, facts.SLA_FIRST_RESPONSE, agent_id, "breached")
        rows.append(
            [
                names.get(agent_id, _("Former member")),
                count_of(counts, facts.CLOSED, agent_id),
                fr.count,
                fr.median,
                res.median,
                ratio(met, met + breached),
                count_of(counts, facts.MESSAGES_OUT, agent_id),
            ]
        )
    rows.sort(key=lambda row: (-row[1], -row[2], str(row[0])))
    columns = [
        Column("agent", _("Agent"), TEXT),
        Column("closed", _("Conversations closed")),
        Column("first_responses", _("First responses")),
        Column("first_response", _("Median first response"), DURATION),
        Column("resolution", _("Median resolution"), DURATION),
        Column("sla", _("First response SLA hit rate"), PERCENT),
        Column("messages", _("Messages sent")),
    ]
    table = Table("leaderboard", _("Leaderboard"), columns, rows, Chart("bar", ("closed", "first_responses")))
    return Report(
        tables=[table],
        note=_("CSAT and online time join this leaderboard when satisfaction surveys and presence history exist."),
    )


# --- SLA ----------------------------------------------------------------------------------------


def sla(query: ReportQuery) -> Report:
    from accounts.models import Queue

    by_queue = totals(query, (facts.SLA_FIRST_RESPONSE, facts.SLA_RESOLUTION), "queue_id", "key")
    queue_ids = {key[1] for key in by_queue}
    names = dict(Queue.objects.filter(organization=query.organization, pk__in=queue_ids).values_list("pk", "name"))
    rows = []
    for queue_id in sorted(queue_ids, key=lambda q: str(names.get(q, ""))):
        row = [names.get(queue_id, _("No queue") if queue_id == 0 else _("Deleted queue"))]
        for metric in (facts.SLA_FIRST_RESPONSE, facts.SLA_RESOLUTION):
            met = count_of(by_queue, metric, queue_id, "met")
            warned = count_of(by_queue, metric, queue_id, "warned")
            breached = count_of(by_queue, metric, queue_id, "breached")
            row += [met, warned, breached, ratio(met, met + breached)]
        rows.append(row)
    daily = _daily_keys(query, (facts.SLA_FIRST_RESPONSE, facts.SLA_RESOLUTION))
    breaches = [
        [
            day,
            daily.get((facts.SLA_FIRST_RESPONSE, day, "breached"), 0),
            daily.get((facts.SLA_RESOLUTION, day, "breached"), 0),
            daily.get((facts.SLA_FIRST_RESPONSE, day, "warned"), 0)
            + daily.get((facts.SLA_RESOLUTION, day, "warned"), 0),
        ]
        for day in query.period.each_day()
    ]
    return Report(
        tables=[
            Table(
                "queues",
                _("Hit rate per queue"),
                [
                    Column("queue", _("Queue"), TEXT),
                    Column("fr_met", _("First response met")),
                    Column("fr_warned", _("First response warned")),
                    Column("fr_breached", _("First response breached")),
                    Column("fr_rate", _("First response hit rate"), PERCENT),
                    Column("res_met", _("Resolution met")),
                    Column("res_warned", _("Resolution warned")),
                    Column("res_breached", _("Resolution breached")),
                    Column("res_rate", _("Resolution hit rate"), PERCENT),
                ],
                rows,
                Chart("bar", ("fr_rate", "res_rate")),
            ),
            Table(
                "breaches",
                _("Breaches over time"),
                [
                    Column("day", _("Day"), DAY),
                    Column("fr_breached", _("First response breaches")),
                    Column("res_breached", _("Resolution breaches")),
                    Column("warned", _("Warnings")),
                ],
                breaches,
                Chart("line", ("fr_breached", "res_breached", "warned")),
            ),
        ]
    )


def _daily_keys(query: ReportQuery, metrics, *, agents: bool = True) -> dict[tuple, int]:
    return {key: n for key, (n, _t) in totals(query, metrics, "day", "key", agents=agents).items()}


# --- peak hours ---------------------------------------------------------------------------------

WEEKDAYS = (
    pgettext_lazy("weekday", "Monday"),
    pgettext_lazy("weekday", "Tuesday"),
    pgettext_lazy("weekday", "Wednesday"),
    pgettext_lazy("weekday", "Thursday"),
    pgettext_lazy("weekday", "Friday"),
    pgettext_lazy("weekday", "Saturday"),
    pgettext_lazy("weekday", "Sunday"),
)


def peak_hours(query: ReportQuery) -> Report:
    cells = _daily_keys(query, (facts.MESSAGES_IN_HOUR,), agents=False)
    grid = [[0] * 24 for _ in range(7)]
    for (_metric, day, hour), n in cells.items():
        grid[day.weekday()][int(hour)] += n
    rows = [[WEEKDAYS[weekday], *grid[weekday]] for weekday in range(7)]
    columns = [Column("weekday", _("Weekday"), TEXT)] + [Column(f"h{h:02d}", f"{h:02d}") for h in range(24)]
    return Report(
        tables=[Table("heatmap", _("Messages received by weekday and hour"), columns, rows, Chart("heatmap", ()))]
    )


# --- messages -----------------------------------------------------------------------------------


def messages(query: ReportQuery) -> Report:
    inbound = _daily_keys(query, (facts.MESSAGES_IN,), agents=False)
    outbound = _daily_keys(query, (facts.MESSAGES_OUT, facts.DELIVERY))
    rows = []
    for day in query.period.each_day():
        n_in = sum(n for (m, d, _k), n in inbound.items() if d == day)
        n_out = sum(n for (m, d, _k), n in outbound.items() if d == day and m == facts.MESSAGES_OUT)
        failed = outbound.get((facts.DELIVERY, day, DeliveryStatus.FAILED), 0)
        rows.append([day, n_in if not query.agent else 0, n_out, failed])
    kinds = []
    for kind, label in MessageKind.choices:
        n_in = sum(n for (_m, _d, k), n in inbound.items() if k == kind) if not query.agent else 0
        n_out = sum(n for (m, _d, k), n in outbound.items() if k == kind and m == facts.MESSAGES_OUT)
        if n_in or n_out:
            kinds.append([label, n_in, n_out])
    out_total = sum(row[2] for row in rows)
    statuses = []
    for status, label in DeliveryStatus.choices:
        n = sum(v for (m, _d, k), v in outbound.items() if m == facts.DELIVERY and k == status)
        statuses.append([label, n, ratio(n, out_total)])
    return Report(
        tables=[
            Table(
                "daily",
                _("Messages per day"),
                [
                    Column("day", _("Day"), DAY),
                    Column("received", _("Received")),
                    Column("sent", _("Sent")),
                    Column("failed", _("Failed")),
                ],
                rows,
                Chart("bar", ("received", "sent")),
            ),
            Table(
                "kinds",
                _("By kind"),
                [Column("kind", _("Kind"), TEXT), Column("received", _("Received")), Column("sent", _("Sent"))],
                kinds,
                Chart("bar", ("received", "sent")),
            ),
            Table(
                "delivery",
                _("Delivery of sent messages"),
                [
                    Column("status", _("Status"), TEXT),
                    Column("messages", _("Messages")),
                    Column("share", _("Share"), PERCENT),
                ],
                statuses,
                Chart("doughnut", ("messages",)),
            ),
        ]
    )


# --- contacts -----------------------------------------------------------------------------------


def contacts(query: ReportQuery) -> Report:
    from django.db.models import Count

    from conversations.models import Contact, LifecycleStage, Tag

    daily = _daily(query, (facts.CONTACTS,), agents=False)
    rows, running = [], 0
    for day in query.period.each_day():
        n = count_of(daily, facts.CONTACTS, day)
        running += n
        rows.append([day, n, running])
    # Stage and tag are the contacts' current state (not rolled up: they change any time).
    stage_counts = dict(
        Contact.objects.filter(organization=query.organization)
        .values("lifecycle_stage")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("lifecycle_stage", "n")
    )
    stages = [[label, stage_counts.get(value, 0)] for value, label in LifecycleStage.choices]
    tags = [
        [name, n]
        for name, n in Tag.objects.filter(organization=query.organization)
        .annotate(n=Count("contacts"))
        .order_by("-n", "name")
        .values_list("name", "n")[:20]
    ]
    previous = count_of(
        totals(query.for_period(query.period.previous()), (facts.CONTACTS,), agents=False), facts.CONTACTS
    )
    return Report(
        kpis=[Kpi(_("New contacts"), running, previous)],
        tables=[
            Table(
                "growth",
                _("New contacts per day"),
                [Column("day", _("Day"), DAY), Column("new", _("New")), Column("cumulative", _("Cumulative"))],
                rows,
                Chart("line", ("new", "cumulative")),
            ),
            Table(
                "stages",
                _("By lifecycle stage (now)"),
                [Column("stage", _("Stage"), TEXT), Column("contacts", _("Contacts"))],
                stages,
                Chart("doughnut", ("contacts",)),
            ),
            Table(
                "tags",
                _("Top tags (now)"),
                [Column("tag", _("Tag"), TEXT), Column("contacts", _("Contacts"))],
                tags,
                Chart("bar", ("contacts",)),
            ),
        ],
    )


SECTIONS = [
    Section("overview", _("Overview"), 10, overview),
    Section("conversations", _("Conversations"), 20, conversations),
    Section("agents", _("Agents"), 30, agents),
    Section("sla", _("SLA"), 40, sla),
    Section("peak-hours", _("Peak hours"), 50, peak_hours, for_agents=False),
    Section("messages", _("Messages and delivery"), 60, messages),
    Section("contacts", _("Contacts"), 70, contacts, for_agents=False),
]
