"""The public booking page (no login) and the customer's manage link.

One view per page; an HTMX request gets the ``panel`` partial of the same template. Times are
shown in the organization's time zone. Every refusal is a clear message, never a 500: the slot
taken by someone else (409, or 200 with the panel for HTMX, which swaps only 2xx), the rate
limit (429), the spam guards and form errors (400).
"""

from __future__ import annotations

import datetime
from collections import OrderedDict

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from scheduling import availability, dates, ics, links, ratelimit, selectors, services
from scheduling.forms import BookingForm, CancelForm, RescheduleForm, form_started_token
from scheduling.models import AppointmentSource, AppointmentStatus

DAYS_SHOWN = 14


def _organization(org_slug: str):
    organization = selectors.organization_for_booking(slug=org_slug)
    if organization is None:
        raise Http404(_("There is no booking page here."))
    return organization


def _days_with_slots(organization, service, first: datetime.date, provider=None) -> list[dict]:
    last = first + datetime.timedelta(days=DAYS_SHOWN - 1)
    found = availability.available_slots(
        organization=organization, service=service, date_from=first, date_to=last, provider=provider
    )
    counts: dict[datetime.date, int] = OrderedDict((first + datetime.timedelta(days=i), 0) for i in range(DAYS_SHOWN))
    for slot in found:
        day = slot.start.astimezone(organization.tzinfo).date()
        if day in counts:
            counts[day] += 1
    return [{"date": day, "count": count} for day, count in counts.items()]


def _slots_on(organization, service, day, provider=None):
    return availability.available_slots(
        organization=organization, service=service, date_from=day, date_to=day, provider=provider
    )


def _render(request, template: str, context: dict, status: int = 200, partial: str = "panel") -> HttpResponse:
    if request.htmx:
        # HTMX swaps only 2xx answers: the message is in the partial either way.
        return render(request, f"{template}#{partial}", context, status=200 if status < 500 else status)
    return render(request, template, context, status=status)


def _booking_context(request, organization, *, service=None, day=None, form=None, error="") -> dict:
    tz = organization.tzinfo
    today = timezone.now().astimezone(tz).date()
    first = max(dates.date_or_default(request.GET.get("from"), today), today)
    context = {
        "organization": organization,
        "services": selectors.service_list(organization=organization),
        "service": service,
        "first": first,
        "previous_first": first - datetime.timedelta(days=DAYS_SHOWN) if first > today else None,
        "next_first": first + datetime.timedelta(days=DAYS_SHOWN),
        "day": day,
        "form": form,
        "error": error,
        "step": "service",
    }
    if service is not None:
        context["step"] = "date"
        context["days"] = _days_with_slots(organization, service, first)
    if service is not None and day is not None:
        context["step"] = "slot"
        context["slots"] = _slots_on(organization, service, day)
    if form is not None:
        context["step"] = "details"
    return context


@require_http_methods(["GET"])
def book(request, org_slug: str):
    organization = _organization(org_slug)
    with timezone.override(organization.tzinfo):
        service = selectors.service_get(organization=organization, service_id=request.GET.get("service"))
        day = dates.date_or_default(request.GET.get("date"), None) if service else None
        form, chosen = None, None
        if service is not None and _valid_start(request.GET.get("start")):
            chosen = BookingForm.base_fields["start"].to_python(request.GET.get("start"))
            form = BookingForm(
                initial={
                    "service": service.pk,
                    "provider": request.GET.get("provider") or "",
                    "start": request.GET.get("start"),
                    "started": form_started_token(),
                }
            )
        context = _booking_context(request, organization, service=service, day=day, form=form)
        if form is not None:
            context["chosen_start"] = chosen
            context["chosen_day"] = chosen.astimezone(organization.tzinfo).date()
        return _render(request, "scheduling/public/book.html", context)


def _valid_start(value) -> bool:
    try:
        return BookingForm.base_fields["start"].to_python(value) is not None
    except ValidationError:
        return False


@require_POST
def book_confirm(request, org_slug: str):
    organization = _organization(org_slug)
    template = "scheduling/public/book.html"
    with timezone.override(organization.tzinfo):
        limit, window = ratelimit.booking_limit()
        if not ratelimit.allow(
            scope="book", key=f"{organization.pk}:{ratelimit.client_address(request)}", limit=limit, window=window
        ):
            context = _booking_context(
                request,
                organization,
                error=_("Too many booking attempts from your network. Please wait a few minutes and try again."),
            )
            return _render(request, template, context, status=429)
        form = BookingForm(request.POST)
        service = selectors.service_get(organization=organization, service_id=request.POST.get("service"))
        if service is None:
            context = _booking_context(request, organization, error=_("Choose a service from the list."))
            return _render(request, template, context, status=400)
        if not form.is_valid():
            context = _booking_context(request, organization, service=service, form=form)
            start = form.cleaned_data.get("start")
            if start:
                context["chosen_start"] = start
                context["chosen_day"] = start.astimezone(organization.tzinfo).date()
            return _render(request, template, context, status=400)
        data = form.cleaned_data
        provider = None
        if data.get("provider"):
            provider = selectors.membership_get(organization=organization, membership_id=data["provider"])
        try:
            appointment = _book_public(organization, service, provider, data)
        except services.SchedulingError as error:
            day = data["start"].astimezone(organization.tzinfo).date()
            context = _booking_context(request, organization, service=service, day=day, error=error.message)
            status = 409 if isinstance(error, services.SlotUnavailable) else 403
            return _render(request, template, context, status=status)
        except ValidationError as error:
            for field, messages in (
                error.message_dict.items() if hasattr(error, "error_dict") else [(None, error.messages)]
            ):
                form.add_error(field if field in form.fields else None, messages)
            context = _booking_context(request, organization, service=service, form=form)
            context["chosen_start"] = data["start"]
            return _render(request, template, context, status=400)
    target = reverse("scheduling:booked", args=[organization.slug, links.manage_token(appointment)])
    if request.htmx:
        response = HttpResponse(status=201)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


def _book_public(organization, service, provider, data):
    """Book with the provider the slot was shown for; if someone took them meanwhile, with any free one.

    Customers choose a time, not a person: the page never shows the provider.
    """
    kwargs = {
        "organization": organization,
        "service": service,
        "start": data["start"],
        "customer_name": data["name"],
        "customer_phone": data["phone"],
        "customer_email": data["email"],
        "notes": data["notes"],
        "source": AppointmentSource.PUBLIC,
    }
    try:
        return services.appointment_book(provider=provider, **kwargs)
    except services.SlotUnavailable as error:
        if provider is None or error.code != "slot_taken":
            raise
    return services.appointment_book(provider=None, **kwargs)


def _appointment_or_error_page(request, organization, token: str):
    rules = availability.settings_for(organization)
    try:
        return links.appointment_from_token(
            organization=organization, token=token, max_age_days=rules.manage_link_max_age_days
        ), None
    except links.LinkExpired:
        return None, render(
            request, "scheduling/public/link_error.html", {"organization": organization, "expired": True}, status=410
        )
    except links.LinkInvalid:
        return None, render(
            request, "scheduling/public/link_error.html", {"organization": organization, "expired": False}, status=404
        )


def _manage_context(organization, appointment, token: str) -> dict:
    manage = links.manage_url(appointment)
    rules = availability.settings_for(organization)
    can_change = appointment.is_active and appointment.start - timezone.now() >= datetime.timedelta(
        minutes=rules.change_notice_minutes
    )
    return {
        "organization": organization,
        "appointment": appointment,
        "token": links.manage_token(appointment),
        "google_url": ics.google_calendar_url(appointment, manage_url=manage),
        "outlook_url": ics.outlook_calendar_url(appointment, manage_url=manage),
        "manage_url": manage,
        "can_change": can_change,
        "change_notice_hours": f"{rules.change_notice_minutes / 60:g}",
    }


@require_http_methods(["GET"])
def booked(request, org_slug: str, token: str):
    organization = _organization(org_slug)
    appointment, error_page = _appointment_or_error_page(request, organization, token)
    if error_page:
        return error_page
    with timezone.override(organization.tzinfo):
        return render(request, "scheduling/public/booked.html", _manage_context(organization, appointment, token))


@require_http_methods(["GET"])
def manage(request, org_slug: str, token: str):
    organization = _organization(org_slug)
    appointment, error_page = _appointment_or_error_page(request, organization, token)
    if error_page:
        return error_page
    with timezone.override(organization.tzinfo):
        context = _manage_context(organization, appointment, token)
        if context["can_change"] and request.GET.get("reschedule"):
            today = timezone.now().astimezone(organization.tzinfo).date()
            first = max(dates.date_or_default(request.GET.get("from"), today), today)
            provider = selectors.membership_get(
                organization=organization, membership_id=_provider_membership_id(appointment)
            )
            context["first"] = first
            context["next_first"] = first + datetime.timedelta(days=DAYS_SHOWN)
            context["previous_first"] = first - datetime.timedelta(days=DAYS_SHOWN) if first > today else None
            context["days"] = _days_with_slots(organization, appointment.service, first, provider=provider)
            day = dates.date_or_default(request.GET.get("date"), None)
            if day is not None:
                context["day"] = day
                context["slots"] = _slots_on(organization, appointment.service, day, provider=provider)
            context["rescheduling"] = True
        return _render(request, "scheduling/public/manage.html", context)


def _provider_membership_id(appointment) -> int | None:
    from accounts.models import Membership

    return (
        Membership.objects.filter(organization_id=appointment.organization_id, user_id=appointment.provider_id)
        .values_list("pk", flat=True)
        .first()
    )


def _refused(request, organization, token: str, *, attempted, error) -> HttpResponse:
    """409 for a change that could not be made, showing the appointment as it is now.

    The refusal often means someone else changed it first (a cancel that lost a race, a
    reschedule submitted twice): the page is built from the appointment read again after the
    service's lock, following a reschedule to its successor, and the message says what happened
    to it rather than repeating the stale page.
    """
    current, error_page = _appointment_or_error_page(request, organization, token)
    if error_page:
        return error_page
    context = _manage_context(organization, current, token)
    if current.pk != attempted.pk:
        context["error"] = _("This appointment was already moved to %(when)s; nothing else was changed.") % {
            "when": date_format(timezone.localtime(current.start), "l, j F Y · H:i")
        }
    elif current.status == AppointmentStatus.CANCELLED:
        context["error"] = _("This appointment was already cancelled; nothing else was changed.")
    elif current.status != attempted.status:
        context["error"] = _("This appointment was changed in the meantime and is now %(status)s.") % {
            "status": current.get_status_display().lower()
        }
    else:
        context["error"] = error.message
    return _render(request, "scheduling/public/manage.html", context, status=409)


@require_POST
def manage_cancel(request, org_slug: str, token: str):
    organization = _organization(org_slug)
    appointment, error_page = _appointment_or_error_page(request, organization, token)
    if error_page:
        return error_page
    form = CancelForm(request.POST)
    with timezone.override(organization.tzinfo):
        context = _manage_context(organization, appointment, token)
        if not form.is_valid():
            context["error"] = _("Check the reason: at most 255 characters.")
            return _render(request, "scheduling/public/manage.html", context, status=400)
        try:
            appointment = services.appointment_cancel(
                appointment=appointment, reason=form.cleaned_data["reason"], by_customer=True
            )
        except services.SchedulingError as error:
            return _refused(request, organization, token, attempted=appointment, error=error)
        context = _manage_context(organization, appointment, token)
        context["notice"] = _("Your appointment is cancelled. We sent you a confirmation by email.")
        return _render(request, "scheduling/public/manage.html", context)


@require_POST
def manage_reschedule(request, org_slug: str, token: str):
    organization = _organization(org_slug)
    appointment, error_page = _appointment_or_error_page(request, organization, token)
    if error_page:
        return error_page
    limit, window = ratelimit.booking_limit()
    form = RescheduleForm(request.POST)
    with timezone.override(organization.tzinfo):
        context = _manage_context(organization, appointment, token)
        if not ratelimit.allow(
            scope="book", key=f"{organization.pk}:{ratelimit.client_address(request)}", limit=limit, window=window
        ):
            context["error"] = _(
                "Too many booking attempts from your network. Please wait a few minutes and try again."
            )
            return _render(request, "scheduling/public/manage.html", context, status=429)
        if not form.is_valid():
            context["error"] = _("Choose a new time from the list.")
            return _render(request, "scheduling/public/manage.html", context, status=400)
        try:
            new = services.appointment_reschedule(
                appointment=appointment, start=form.cleaned_data["start"], by_customer=True
            )
        except services.SchedulingError as error:
            return _refused(request, organization, token, attempted=appointment, error=error)
        context = _manage_context(organization, new, token)
        context["notice"] = _("Your appointment was moved. We sent you the new details by email.")
        return _render(request, "scheduling/public/manage.html", context)


@require_http_methods(["GET"])
def manage_ics(request, org_slug: str, token: str):
    organization = _organization(org_slug)
    appointment, error_page = _appointment_or_error_page(request, organization, token)
    if error_page:
        return error_page
    body = ics.appointment_ics(
        appointment,
        manage_url=links.manage_url(appointment),
        cancelled=not appointment.is_active and appointment.status == "cancelled",
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="appointment-{appointment.public_id}.ics"'
    return response
