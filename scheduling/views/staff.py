"""The staff calendar (day and week), appointment actions, staff booking and statistics.

Tenant- and role-scoped: agents see and act on their own appointments; org admins on every
provider's; viewers see every provider's calendar and act on none. Another organization's
appointment, or another agent's, is a 404 (its existence is not revealed).
"""

from __future__ import annotations

import datetime
import math

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Membership
from accounts.roles import ACTING_ROLES, ALL_ROLES, Role
from accounts.tenancy import has_role, role_required
from conversations.contacts import selectors as contact_selectors
from scheduling import dates, selectors, services
from scheduling.models import AppointmentSource, WorkingHours

ROW_MINUTES = 15
DEFAULT_HOURS = (7, 21)


def _is_admin(request) -> bool:
    return request.user.is_superuser or has_role(request, (Role.ORG_ADMIN,))


def _may_see(request, appointment) -> bool:
    return selectors.appointment_may_see(
        user=request.user, membership=request.membership, appointment=appointment, is_admin=_is_admin(request)
    )


def _may_act(request, appointment) -> bool:
    return selectors.appointment_may_act(
        user=request.user, membership=request.membership, appointment=appointment, is_admin=_is_admin(request)
    )


def _parse_day(request, name: str, default, errors: list[str]):
    """A date parameter of a staff page; a bad or out-of-range one shows the default (the reason joins ``errors``)."""
    try:
        return dates.parse_date(request.GET.get(name)) or default
    except ValidationError as error:
        errors.extend(error.messages)
        return default


def _columns(request, organization, view: str, day: datetime.date):
    providers = selectors.calendar_providers(
        organization=organization, membership=request.membership, is_superuser=request.user.is_superuser
    )
    if view == "week":
        chosen = None
        if request.GET.get("provider"):
            chosen = next((p for p in providers if str(p.pk) == request.GET["provider"]), None)
        chosen = (
            chosen
            or next((p for p in providers if p.user_id == request.user.pk), None)
            or (providers[0] if providers else None)
        )
        monday = day - datetime.timedelta(days=day.weekday())
        days = [monday + datetime.timedelta(days=i) for i in range(7)]
        columns = [{"date": d, "provider": chosen} for d in days] if chosen else []
        return providers, chosen, columns, days[0], days[-1]
    return providers, None, [{"date": day, "provider": p} for p in providers], day, day


def _grid(organization, columns, appointments):
    tz = organization.tzinfo
    first_hour, last_hour = DEFAULT_HOURS
    for appointment in appointments:
        local_start, local_end = appointment.start.astimezone(tz), appointment.end.astimezone(tz)
        first_hour = min(first_hour, local_start.hour)
        last_hour = (
            max(last_hour, local_end.hour + (1 if local_end.minute else 0))
            if local_end.date() == local_start.date()
            else 24
        )
    row_count = (last_hour - first_hour) * 60 // ROW_MINUTES
    windows: dict[tuple[int, int], list] = {}
    for row in WorkingHours.objects.filter(
        organization=organization, provider__in=[c["provider"] for c in columns]
    ).values("provider_id", "weekday", "start", "end"):
        windows.setdefault((row["provider_id"], row["weekday"]), []).append((row["start"], row["end"]))
    times = [
        datetime.time((first_hour * 60 + i * ROW_MINUTES) // 60, (first_hour * 60 + i * ROW_MINUTES) % 60)
        for i in range(row_count)
    ]
    cells = [[{"kind": "empty", "open": False} for _c in columns] for _r in range(row_count)]
    for c, column in enumerate(columns):
        for start, end in windows.get((column["provider"].pk, column["date"].weekday()), []):
            for r, moment in enumerate(times):
                if start <= moment < end:
                    cells[r][c]["open"] = True
        for appointment in appointments:
            local = appointment.start.astimezone(tz)
            if appointment.provider_id != column["provider"].user_id or local.date() != column["date"]:
                continue
            minutes = local.hour * 60 + local.minute - first_hour * 60
            r = max(0, min(row_count - 1, minutes // ROW_MINUTES))
            while r > 0 and cells[r][c]["kind"] == "covered":
                r -= 1
            if cells[r][c]["kind"] == "appt":
                cells[r][c]["appointments"].append(appointment)
                continue
            span = max(1, math.ceil((appointment.end - appointment.start).total_seconds() / 60 / ROW_MINUTES))
            span = min(span, row_count - r)
            for k in range(1, span):
                if cells[r + k][c]["kind"] != "empty":
                    span = k
                    break
            cells[r][c] = {"kind": "appt", "appointments": [appointment], "rowspan": span, "open": True}
            for k in range(1, span):
                cells[r + k][c] = {"kind": "covered"}
    return [{"time": t, "cells": row} for t, row in zip(times, cells, strict=False)]


@role_required(*ALL_ROLES)
@require_http_methods(["GET"])
def calendar(request):
    organization = request.organization
    tz = organization.tzinfo
    view = "week" if request.GET.get("view") == "week" else "day"
    today = timezone.now().astimezone(tz).date()
    date_errors: list[str] = []
    day = _parse_day(request, "date", today, date_errors)
    providers, chosen, columns, first, last = _columns(request, organization, view, day)
    start = datetime.datetime.combine(first, datetime.time(), tzinfo=tz)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
    appointments = selectors.appointment_list_for_calendar(
        organization=organization,
        start=start,
        end=end,
        provider_user_ids=[c["provider"].user_id for c in columns],
    )
    step = datetime.timedelta(days=7 if view == "week" else 1)
    with timezone.override(tz):
        context = {
            "view": view,
            "day": day,
            "today": today,
            "first": first,
            "last": last,
            "previous": day - step,
            "next": day + step,
            "providers": providers,
            "chosen": chosen,
            "columns": columns,
            "rows": _grid(organization, columns, appointments) if columns else [],
            "appointment_count": len(appointments),
            "date_errors": date_errors,
            "can_book": has_role(request, ACTING_ROLES),
            "is_admin": _is_admin(request),
        }
        template = "scheduling/staff/calendar.html"
        if request.htmx and not request.htmx.boosted:
            return render(request, f"{template}#calendar", context)
        return render(request, template, context)


def _appointment_for(request, pk):
    appointment = selectors.appointment_get(organization=request.organization, appointment_id=pk)
    if appointment is None or not _may_see(request, appointment):
        raise Http404
    return appointment


def _detail_context(request, appointment, **extra):
    from scheduling import links

    return {
        "appointment": appointment,
        "can_act": _may_act(request, appointment),
        "providers": selectors.provider_memberships(organization=request.organization) if _is_admin(request) else [],
        "manage_url": links.manage_url(appointment),
        "metrics": selectors.client_metrics_get(organization=request.organization, contact=appointment.contact),
        **extra,
    }


@role_required(*ALL_ROLES)
@require_http_methods(["GET"])
def appointment_detail(request, pk: int):
    appointment = _appointment_for(request, pk)
    with timezone.override(request.organization.tzinfo):
        template = "scheduling/staff/appointment.html"
        if request.htmx:
            return render(request, f"{template}#detail", _detail_context(request, appointment))
        return render(request, template, _detail_context(request, appointment))


ACTIONS = {
    "confirm": (services.appointment_confirm, gettext_lazy("Appointment confirmed.")),
    "cancel": (services.appointment_cancel, gettext_lazy("Appointment cancelled.")),
    "complete": (services.appointment_complete, gettext_lazy("Appointment completed.")),
    "no_show": (services.appointment_mark_no_show, gettext_lazy("Marked as a no-show.")),
    # Staff move an appointment through the same service (rules and exclusion constraint) as the public flow.
    "reschedule": (services.appointment_reschedule, gettext_lazy("Appointment rescheduled.")),
    "notes": (services.appointment_update_notes, gettext_lazy("Internal notes saved.")),
}


def _reschedule_input(request, appointment) -> dict:
    """The new start (in the organization's time zone) and, optionally, another provider."""
    organization = request.organization
    start = dates.parse_instant(request.POST.get("start", ""), tz=organization.tzinfo)
    if start is None:
        raise ValidationError(_("Enter the new date and time."))
    values = {"start": start}
    provider_id = request.POST.get("provider", "")
    if provider_id:
        provider = selectors.membership_get(organization=organization, membership_id=provider_id)
        if provider is None:
            raise ValidationError(_("Choose a provider of this organization."))
        if not _is_admin(request) and provider.user_id != request.user.pk:
            raise ValidationError(_("Only org admins move appointments to another provider."))
        values["provider"] = provider
    return values


@role_required(*ACTING_ROLES)
@require_POST
def appointment_action(request, pk: int, action: str):
    appointment = _appointment_for(request, pk)
    if action not in ACTIONS:
        raise Http404
    if not _may_act(request, appointment):
        raise PermissionDenied("role")
    func, done = ACTIONS[action]
    kwargs = {"appointment": appointment, "by": request.user}
    if action == "cancel":
        kwargs["reason"] = request.POST.get("reason", "")[:255]
    error, notice = "", ""
    try:
        if action == "reschedule":
            kwargs.update(_reschedule_input(request, appointment))
        elif action == "notes":
            kwargs["internal_notes"] = request.POST.get("internal_notes", "")[:5000].replace("\x00", "")
        appointment = func(**kwargs)
        notice = str(done)
    except services.SchedulingError as failure:
        error = failure.message
    except ValidationError as failure:
        error = " ".join(failure.messages)
    with timezone.override(request.organization.tzinfo):
        template = "scheduling/staff/appointment.html"
        if request.htmx:
            return render(
                request,
                f"{template}#detail",
                _detail_context(request, appointment, error=error, notice=notice),
                status=200,
            )
        (messages.error if error else messages.success)(request, error or notice)
        return redirect("scheduling:appointment", pk=appointment.pk)


class StaffBookingForm(forms.Form):
    service = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Service"))
    provider = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Provider"))
    start = forms.CharField(
        label=gettext_lazy("Starts at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    name = forms.CharField(label=gettext_lazy("Client name"), max_length=150)
    phone = forms.CharField(label=gettext_lazy("Client phone"), max_length=32)
    email = forms.EmailField(label=gettext_lazy("Client email"), required=False)
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(label=gettext_lazy("Confirmed already"), required=False, initial=True)

    def __init__(self, *args, organization, providers, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["service"].queryset = selectors.service_queryset(organization=organization)
        self.fields["provider"].queryset = (
            Membership.objects.for_organization(organization)
            .filter(pk__in=[p.pk for p in providers])
            .select_related("user")
        )
        self.fields["provider"].label_from_instance = lambda m: m.user.get_full_name()

    def clean_start(self):
        parsed = dates.parse_instant(self.cleaned_data["start"], tz=self.organization.tzinfo)
        if parsed is None:
            raise ValidationError(_("Enter a date and time."))
        return parsed


@role_required(*ACTING_ROLES)
@require_http_methods(["GET", "POST"])
def appointment_new(request):
    organization = request.organization
    providers = selectors.calendar_providers(
        organization=organization, membership=request.membership, is_superuser=request.user.is_superuser
    )
    form = StaffBookingForm(
        request.POST or None,
        organization=organization,
        providers=providers,
        initial={"start": request.GET.get("start", "")},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                appointment = services.appointment_book(
                    organization=organization,
                    service=data["service"],
                    provider=data["provider"],
                    start=data["start"],
                    customer_name=data["name"],
                    customer_phone=data["phone"],
                    customer_email=data["email"] or "",
                    notes=data["notes"],
                    source=AppointmentSource.STAFF,
                    confirm=data["confirm"],
                )
            except services.SchedulingError as error:
                form.add_error(None, error.message)
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("Appointment booked."))
                local_day = appointment.start.astimezone(organization.tzinfo).date()
                return redirect(reverse("scheduling:calendar") + f"?date={local_day.isoformat()}")
        status = 400
    with timezone.override(organization.tzinfo):
        return render(request, "scheduling/staff/new.html", {"form": form}, status=status)


@role_required(Role.ORG_ADMIN)
@require_http_methods(["GET"])
def statistics(request):
    organization = request.organization
    tz = organization.tzinfo
    today = timezone.now().astimezone(tz).date()
    date_errors: list[str] = []
    first = _parse_day(request, "from", today.replace(day=1), date_errors)
    last = _parse_day(
        request,
        "to",
        (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1),
        date_errors,
    )
    if last < first or (last - first).days > 366:
        last = first + datetime.timedelta(days=30)
    stats = selectors.appointment_statistics(organization=organization, date_from=first, date_to=last)
    return render(
        request,
        "scheduling/staff/statistics.html",
        {"stats": stats, "first": first, "last": last, "date_errors": date_errors},
    )


@role_required(*ACTING_ROLES)
@require_http_methods(["GET"])
def today(request):
    """The dashboard's piece: the member's own appointments today (in the organization's time zone)."""
    organization = request.organization
    tz = organization.tzinfo
    day = timezone.now().astimezone(tz).date()
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
    appointments = selectors.appointment_list_for_calendar(
        organization=organization,
        start=start,
        end=start + datetime.timedelta(days=1),
        provider_user_ids=[request.user.pk],
    )
    return render(request, "scheduling/staff/_today.html", {"appointments": appointments, "day": day})


@role_required(*ALL_ROLES)
def contact_appointments(request, contact_id: int):
    """A contact's appointment history and client metrics, for the contact page (loaded with ``hx-get``)."""
    contact = contact_selectors.contact_get(organization=request.organization, contact_id=contact_id)
    if contact is None:
        raise Http404("contact")
    return render(
        request,
        "scheduling/_contact_appointments.html",
        {
            "appointments": selectors.appointment_list_for_contact(
                organization=request.organization, contact=contact, limit=20
            ),
            "client_metrics": selectors.client_metrics_get(organization=request.organization, contact=contact),
            "organization": request.organization,
        },
    )
