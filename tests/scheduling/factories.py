"""Scheduling test builders, through the services."""

from __future__ import annotations

import datetime
import itertools

from accounts.roles import Role
from scheduling import services
from scheduling.models import (
    Appointment,
    ClientMetrics,
    DateOverride,
    SchedulingSettings,
    Service,
    ServiceCategory,
    TimeOff,
    WorkingHours,
)
from tests import factories

_seq = itertools.count(1)

NINE_TO_SIX = [(datetime.time(9), datetime.time(12)), (datetime.time(13), datetime.time(18))]


def provider(org, *, windows=None, weekdays=range(7), role=Role.AGENT, email=None, full_name=""):
    membership = factories.member(org, role, email=email, full_name=full_name or f"Provider {next(_seq)}")
    for weekday in weekdays:
        services.working_hours_set(provider=membership, weekday=weekday, windows=windows or NINE_TO_SIX)
    return membership


def service(org, name=None, duration=60, price="100.00", providers=(), **fields):
    return services.service_create(
        organization=org,
        name=name or f"Service {next(_seq)}",
        duration_minutes=duration,
        price=price,
        providers=list(providers),
        **fields,
    )


def settings(org, **fields):
    return services.scheduling_settings_update(organization=org, **fields)


def future_day(days=7, weekday=None) -> datetime.date:
    day = datetime.date.today() + datetime.timedelta(days=days)
    while weekday is not None and day.weekday() != weekday:
        day += datetime.timedelta(days=1)
    return day


def at(org, day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=org.tzinfo)


def appointment(
    org, *, svc=None, prov=None, start=None, phone=None, email="", name="Cliente Teste", source="staff", **kwargs
):
    prov = prov or provider(org)
    svc = svc or service(org, providers=[prov])
    start = start or at(org, future_day(10), 10)
    return services.appointment_book(
        organization=org,
        service=svc,
        provider=prov,
        start=start,
        customer_name=name,
        customer_phone=phone or f"+55119{next(_seq):08d}",
        customer_email=email,
        source=source,
        **kwargs,
    )


def _category(org):
    return services.service_category_create(organization=org, name=f"Category {next(_seq)}")


def _working_hours(org):
    return provider(org, weekdays=[0]).working_hours.first()


def _time_off(org):
    start = at(org, future_day(20), 9)
    return services.time_off_add(
        provider=provider(org, weekdays=[]), start=start, end=start + datetime.timedelta(hours=3)
    )


def _override(org):
    return services.date_override_add(provider=provider(org, weekdays=[]), date=future_day(30))


def _metrics(org):
    return ClientMetrics.objects.get(contact=appointment(org).contact)


TENANT_ROW_BUILDERS = {
    SchedulingSettings: lambda org: settings(org),
    ServiceCategory: _category,
    Service: lambda org: service(org),
    WorkingHours: _working_hours,
    TimeOff: _time_off,
    DateOverride: _override,
    Appointment: lambda org: appointment(org),
    ClientMetrics: _metrics,
}


def customer_row(appt, key: str):
    """The outbox row of the customer's message about ``appt`` for occurrence ``key`` (or ``None``)."""
    from notifications.models import NotificationLog

    return NotificationLog.objects.filter(dedupe_key=f"appointment-{appt.pk}:{key}:customer").first()


def customer_rows(appt):
    from notifications.models import NotificationLog

    return NotificationLog.objects.filter(
        recipient_contact_id=appt.contact_id, metadata__appointment_id=appt.pk
    ).order_by("id")
