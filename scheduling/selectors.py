"""Reads shared by views, tasks and other apps. Every selector takes the organization."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Sum

from accounts import limits
from accounts.models import Membership, Organization
from accounts.roles import Role
from scheduling.availability import settings_for
from scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, ClientMetrics, Service, WorkingHours


def organization_for_booking(*, slug: str) -> Organization | None:
    """The active organization whose public booking page is ``/book/<slug>/`` (``None`` if none or disabled)."""
    organization = Organization.objects.filter(slug=slug, is_active=True).first()
    if organization is None:
        return None
    return organization if settings_for(organization).booking_enabled else None


def service_list(*, organization: Organization, active_only: bool = True) -> list[Service]:
    services = Service.objects.for_organization(organization).select_related("category")
    if active_only:
        services = services.filter(is_active=True)
    return list(services.order_by("category__position", "category__name", "name"))


def service_get(*, organization: Organization, service_id, active_only: bool = True) -> Service | None:
    try:
        service_id = int(service_id)
    except (TypeError, ValueError):
        return None
    services = Service.objects.for_organization(organization).select_related("category", "organization")
    if active_only:
        services = services.filter(is_active=True)
    return services.filter(pk=service_id).first()


def membership_get(*, organization: Organization, membership_id) -> Membership | None:
    try:
        membership_id = int(membership_id)
    except (TypeError, ValueError):
        return None
    return Membership.objects.for_organization(organization).select_related("user").filter(pk=membership_id).first()


def appointment_get(*, organization: Organization, appointment_id) -> Appointment | None:
    try:
        appointment_id = int(appointment_id)
    except (TypeError, ValueError):
        return None
    return (
        Appointment.objects.for_organization(organization)
        .select_related("organization", "service", "provider", "contact", "rescheduled_from")
        .filter(pk=appointment_id)
        .first()
    )


def appointment_may_see(*, user, membership: Membership | None, appointment: Appointment, is_admin: bool) -> bool:
    """Admins and viewers see every appointment; an agent sees the ones they provide."""
    if is_admin or (membership is not None and membership.role == Role.VIEWER):
        return True
    return appointment.provider_id == user.pk


def appointment_visible(*, organization: Organization, user, membership: Membership | None, is_admin: bool):
    """The appointments ``appointment_may_see`` allows, as a queryset (for lists)."""
    rows = Appointment.objects.for_organization(organization)
    if is_admin or (membership is not None and membership.role == Role.VIEWER):
        return rows
    return rows.filter(provider=user)


def appointment_may_act(*, user, membership: Membership | None, appointment: Appointment, is_admin: bool) -> bool:
    """Admins act on every appointment; an agent on the ones they provide; viewers on none."""
    if is_admin:
        return True
    return bool(membership is not None and membership.role == Role.AGENT and appointment.provider_id == user.pk)


def appointment_list_for_contact(*, organization: Organization, contact, limit: int = 20) -> list[Appointment]:
    """The contact's appointments, upcoming first then the most recent (for the inbox contact panel)."""
    rows = (
        Appointment.objects.for_organization(organization).filter(contact=contact).select_related("service", "provider")
    )
    return list(rows.order_by("-start")[:limit])


def client_metrics_get(*, organization: Organization, contact) -> ClientMetrics | None:
    return ClientMetrics.objects.for_organization(organization).filter(contact=contact).first()


def calendar_providers(
    *, organization: Organization, membership: Membership | None, is_superuser: bool = False
) -> list[Membership]:
    """Whose calendars ``membership`` may see: admins and viewers every provider's, agents only their own.

    A provider is a member (not a viewer) with working hours or appointments in the organization.
    """
    is_provider = Exists(WorkingHours.objects.filter(provider=OuterRef("pk"))) | Exists(
        Appointment.objects.filter(organization=organization, provider=OuterRef("user"))
    )
    providers = (
        Membership.objects.for_organization(organization)
        .exclude(role=Role.VIEWER)
        .filter(is_provider)
        .select_related("user")
    )
    if not is_superuser and (membership is None or membership.role == Role.AGENT):
        if membership is None:
            return []
        return [Membership.objects.select_related("user").get(pk=membership.pk)]
    return list(providers.order_by("user__full_name", "user__email"))


def appointment_list_for_calendar(
    *,
    organization: Organization,
    start: datetime.datetime,
    end: datetime.datetime,
    provider_user_ids: list[int],
    include_cancelled: bool = False,
) -> list[Appointment]:
    rows = (
        Appointment.objects.for_organization(organization)
        .filter(start__lt=end, end__gt=start, provider_id__in=provider_user_ids)
        .select_related("service", "provider", "contact")
    )
    if not include_cancelled:
        rows = rows.exclude(status=AppointmentStatus.CANCELLED)
    return list(rows.order_by("start"))


def appointments_upcoming_count(*, organization: Organization, now: datetime.datetime) -> int:
    return Appointment.objects.for_organization(organization).filter(status__in=ACTIVE_STATUSES, start__gte=now).count()


def appointment_statistics(*, organization: Organization, date_from: datetime.date, date_to: datetime.date) -> dict:
    """Counts by status, revenue of completed appointments, no-show rate, busiest services and providers."""
    tz = organization.tzinfo
    start = datetime.datetime.combine(date_from, datetime.time(), tzinfo=tz)
    end = datetime.datetime.combine(date_to + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
    rows = Appointment.objects.for_organization(organization).filter(start__gte=start, start__lt=end)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    revenue = rows.filter(status=AppointmentStatus.COMPLETED).aggregate(total=Sum("price"))["total"] or Decimal("0")
    finished = by_status.get(AppointmentStatus.COMPLETED, 0) + by_status.get(AppointmentStatus.NO_SHOW, 0)
    return {
        "total": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in AppointmentStatus.values},
        "revenue": revenue,
        "no_show_rate": round(100 * by_status.get(AppointmentStatus.NO_SHOW, 0) / finished, 1) if finished else None,
        "top_services": list(
            rows.exclude(status=AppointmentStatus.CANCELLED)
            .values("service__name")
            .annotate(n=Count("id"))
            .order_by("-n", "service__name")[:5]
        ),
        "by_provider": list(
            rows.exclude(status=AppointmentStatus.CANCELLED)
            .values("provider__full_name", "provider__email")
            .annotate(n=Count("id"))
            .order_by("-n", "provider__email")
        ),
        # The figure the plan limit is checked against: this month's bookings counter.
        "this_month": limits.current_figure(organization=organization, resource="appointments"),
        "monthly_limit": organization.limits.appointments_per_month,
    }


def provider_memberships(*, organization: Organization) -> list[Membership]:
    return list(
        Membership.objects.for_organization(organization)
        .exclude(role=Role.VIEWER)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def month_bounds(organization: Organization, moment: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The calendar month holding ``moment`` in the organization's time zone, as two instants."""
    local = moment.astimezone(organization.tzinfo)
    first = datetime.datetime(local.year, local.month, 1, tzinfo=organization.tzinfo)
    following = datetime.datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=organization.tzinfo)
    return first, following


def service_queryset(*, organization: Organization, active_only: bool = True):
    services = Service.objects.for_organization(organization)
    return services.filter(is_active=True) if active_only else services
