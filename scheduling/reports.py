"""Scheduling's part of the reports: appointment rollups and the appointments page.

Rollups (``conversations.reports``' table, agent = the provider):
- ``appointments.status`` (key: status) on the local day the appointment starts, with the price in
  cents as total. An appointment changes status several times, so its cell (day × provider) is
  *recomputed* from the appointments on every ``appointment.*`` event, under a lock on the cell:
  exact under concurrent changes, and the rebuild is the same computation.
- ``appointments.booked`` (key: source) on the local day it was booked: incremented once on
  ``appointment.created`` (a reschedule moves a booking, it is not a new one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from conversations.reports.facts import Fact
from conversations.reports.models import DailyRollup
from conversations.reports.rebuild import local_bounds
from conversations.reports.registry import Rebuilder
from conversations.reports.sections import COUNT, DAY, MONEY, PERCENT, Chart, Column, Kpi, Report, Section, Table, ratio
from conversations.reports.selectors import ReportQuery, totals
from scheduling.models import Appointment, AppointmentStatus

STATUS = "appointments.status"
BOOKED = "appointments.booked"
_CELL_LOCK = 17_120_002


def _cents(price: Decimal | None) -> int:
    return int((price or Decimal(0)) * 100)


def _status_facts(organization: Organization, appointments, provider_id: int | None = None) -> Iterator[Fact]:
    tz = organization.tzinfo
    rows = (
        appointments.annotate(day=TruncDate("start", tzinfo=tz))
        .values("day", "provider_id", "status")
        .annotate(n=Count("pk"), revenue=Sum("price"))
        .order_by()
    )
    for row in rows:
        yield Fact(
            organization.pk,
            row["day"],
            STATUS,
            row["status"],
            0,
            row["provider_id"],
            0,
            row["n"],
            _cents(row["revenue"]),
        )


def appointment_cell_refresh(*, appointment: Appointment) -> None:
    """Recompute the status cells (start day × provider) of ``appointment`` and of the one it replaced."""
    organization = appointment.organization
    tz = organization.tzinfo
    cells = {(appointment.start.astimezone(tz).date(), appointment.provider_id)}
    if appointment.rescheduled_from_id:
        old = appointment.rescheduled_from
        cells.add((old.start.astimezone(tz).date(), old.provider_id))
    for day, provider_id in sorted(cells):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_CELL_LOCK, f"{organization.pk}:{provider_id}:{day}"]
            )
        start, end = local_bounds(tz, day, day)
        DailyRollup.objects.filter(organization=organization, metric=STATUS, day=day, agent_id=provider_id).delete()
        appointments = Appointment.objects.filter(
            organization=organization, provider_id=provider_id, start__gte=start, start__lt=end
        )
        DailyRollup.objects.bulk_create(
            [
                DailyRollup(
                    organization_id=f.organization_id,
                    day=f.day,
                    metric=f.metric,
                    key=f.key,
                    agent_id=f.agent_id,
                    count=f.count,
                    total=f.total,
                )  # fmt: skip
                for f in _status_facts(organization, appointments)
            ]
        )


def booked_facts(appointment: Appointment) -> list[Fact]:
    day = appointment.created_at.astimezone(appointment.organization.tzinfo).date()
    return [
        Fact(
            appointment.organization_id,
            day,
            BOOKED,
            appointment.source,
            0,
            appointment.provider_id,
            0,
            1,
            _cents(appointment.price),
        )
    ]


def appointment_facts(organization: Organization, day_from: dt.date, day_to: dt.date) -> Iterator[Fact]:
    tz = organization.tzinfo
    start, end = local_bounds(tz, day_from, day_to)
    mine = Appointment.objects.filter(organization=organization)
    yield from _status_facts(organization, mine.filter(start__gte=start, start__lt=end))
    booked = (
        mine.filter(created_at__gte=start, created_at__lt=end, rescheduled_from__isnull=True)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "provider_id", "source")
        .annotate(n=Count("pk"), revenue=Sum("price"))
        .order_by()
    )
    for row in booked:
        yield Fact(
            organization.pk,
            row["day"],
            BOOKED,
            row["source"],
            0,
            row["provider_id"],
            0,
            row["n"],
            _cents(row["revenue"]),
        )


REBUILDERS = [Rebuilder(metrics=(STATUS, BOOKED), facts=appointment_facts)]


def _figures(query: ReportQuery) -> dict:
    # Appointments have no queue or channel: only the agent (provider) filter narrows them.
    query = ReportQuery(query.organization, query.period, agent_id=query.agent_id, own_agent_id=query.own_agent_id)
    found = totals(query, (STATUS, BOOKED), "key")
    status = {key: value for (metric, key), value in found.items() if metric == STATUS}
    booked = sum(n for (metric, _key), (n, _t) in found.items() if metric == BOOKED)
    completed, revenue = status.get(AppointmentStatus.COMPLETED, (0, 0))
    no_show = status.get(AppointmentStatus.NO_SHOW, (0, 0))[0]
    return {
        "booked": booked,
        "scheduled": sum(n for n, _t in status.values()),
        "completed": completed,
        "no_show_rate": ratio(no_show, completed + no_show),
        "revenue": revenue,
        "ticket": revenue / completed if completed else None,
        "status": status,
        "query": query,
    }


def appointments(query: ReportQuery) -> Report:
    now, before = _figures(query), _figures(query.for_period(query.period.previous()))
    kpis = [
        Kpi(_("Bookings"), now["booked"], before["booked"]),
        Kpi(_("Appointments in the period"), now["scheduled"], before["scheduled"]),
        Kpi(_("Completed"), now["completed"], before["completed"]),
        Kpi(_("No-show rate"), now["no_show_rate"], before["no_show_rate"], PERCENT, True),
        Kpi(_("Revenue"), now["revenue"], before["revenue"], MONEY),
        Kpi(_("Average ticket"), now["ticket"], before["ticket"], MONEY),
    ]
    daily = totals(now["query"], (STATUS, BOOKED), "day", "key")
    rows = []
    for day in query.period.each_day():
        rows.append(
            [
                day,
                sum(n for (m, d, _k), (n, _t) in daily.items() if m == BOOKED and d == day),
                daily.get((STATUS, day, AppointmentStatus.COMPLETED), (0, 0))[0],
                daily.get((STATUS, day, AppointmentStatus.NO_SHOW), (0, 0))[0],
                daily.get((STATUS, day, AppointmentStatus.CANCELLED), (0, 0))[0],
                daily.get((STATUS, day, AppointmentStatus.COMPLETED), (0, 0))[1],
            ]
        )
    statuses = [[label, now["status"].get(value, (0, 0))[0]] for value, label in AppointmentStatus.choices]
    return Report(
        kpis=kpis,
        tables=[
            Table(
                "daily",
                _("Appointments per day"),
                [
                    Column("day", _("Day"), DAY),
                    Column("booked", _("Booked")),
                    Column("completed", _("Completed")),
                    Column("no_show", _("No-show")),
                    Column("cancelled", _("Cancelled")),
                    Column("revenue", _("Revenue"), MONEY),
                ],
                rows,
                Chart("bar", ("booked", "completed", "no_show")),
            ),
            Table(
                "statuses",
                _("By status"),
                [Column("status", _("Status"), "text"), Column("appointments", _("Appointments"), COUNT)],
                statuses,
                Chart("doughnut", ("appointments",)),
            ),
        ],
    )


SECTIONS = [Section("appointments", _("Appointments"), 90, appointments)]
