"""Pages: notification preferences (HTMX, each change saved) and the in-app notification center."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.roles import ALL_ROLES
from accounts.tenancy import role_required
from notifications import links, selectors, services
from notifications.forms import PreferenceForm
from notifications.models import Status

PREFERENCES = "notifications/preferences.html"
CENTER = "notifications/center.html"


def _membership_required(request):
    if request.membership is None:
        # Super admins outside their own organizations receive nothing there.
        raise PermissionDenied("no-membership")


@role_required(*ALL_ROLES)
def preferences(request):
    _membership_required(request)
    preference = services.preference_ensure(organization=request.organization, user=request.user)
    saved = False
    if request.method == "POST":
        form = PreferenceForm(request.POST, instance=preference)
        if form.is_valid():
            try:
                preference = services.preference_update(preference=preference, by=request.user, **form.changes())
                saved = True
            except ValidationError as error:
                form.add_service_errors(error)
        if saved:
            form = PreferenceForm(instance=preference)
            if not request.htmx:
                messages.success(request, _("Your notification preferences were saved."))
                return redirect("notifications:preferences")
    else:
        form = PreferenceForm(instance=preference)
    context = {"form": form, "saved": saved, "time_zone": request.user.time_zone or request.organization.time_zone}
    if request.htmx:
        # 200 even with errors: htmx swaps only successful responses, and the partial *is* the answer
        # (the form with its inline errors; nothing was saved).
        return render(request, f"{PREFERENCES}#preferences-form", context)
    return render(request, PREFERENCES, context, status=400 if request.method == "POST" else 200)


@require_POST
@role_required(*ALL_ROLES)
def send_test(request):
    _membership_required(request)
    rows = services.notification_send_test(organization=request.organization, user=request.user)
    row = rows[0]
    if row.status == Status.PENDING:
        text = _("A test email is on its way to %(email)s.") % {"email": request.user.email}
    elif row.status == Status.DEFERRED:
        when = formats.date_format(
            timezone.localtime(row.scheduled_at, services.user_time_zone(request.user, request.organization)),
            "SHORT_DATETIME_FORMAT",
        )
        text = _("The test email was deferred until %(when)s (%(reason)s).") % {
            "when": when,
            "reason": services.REASON_TEXT.get(row.reason, row.error),
        }
    else:
        text = _("The test email was not sent: %(reason)s") % {
            "reason": services.REASON_TEXT.get(row.reason, row.error)
        }
    if request.htmx:
        return render(request, f"{PREFERENCES}#test-result", {"test_result": text, "test_row": row})
    messages.info(request, text)
    return redirect("notifications:preferences")


def _center_context(request) -> dict:
    return {
        "notifications": [
            links.center_item(log)
            for log in selectors.notification_center_list(organization=request.organization, user=request.user)
        ],
        "unread": selectors.unread_count(organization_id=request.organization.pk, user_id=request.user.pk),
    }


@role_required(*ALL_ROLES)
def center(request):
    context = _center_context(request)
    if request.htmx:
        return render(request, f"{CENTER}#notification-list", context)
    return render(request, CENTER, context)


@require_POST
@role_required(*ALL_ROLES)
def mark_read(request, log_id: int):
    if not services.notification_mark_read(organization=request.organization, user=request.user, log_id=log_id):
        raise Http404
    if request.htmx:
        return render(request, f"{CENTER}#notification-list", _center_context(request))
    return redirect("notifications:center")


@require_POST
@role_required(*ALL_ROLES)
def mark_all_read(request):
    services.notification_mark_all_read(organization=request.organization, user=request.user)
    if request.htmx:
        return render(request, f"{CENTER}#notification-list", _center_context(request))
    return redirect("notifications:center")
