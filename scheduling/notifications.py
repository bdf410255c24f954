"""Who hears about an appointment, and how: written by the ``appointment.*`` listeners into the outbox.

Staff (the provider, or the organization's admins for a no-show) are notified through
``notifications.services.notify``: their preferences, quiet hours and channels apply, and a dedupe
key per (appointment, occurrence) makes a repeated call harmless.

Customers are contacts: their message is one outbox row per (appointment, occurrence), written with
``outbox_enqueue`` under a dedupe key, so it exists once however often the listener runs. The row
says which channel was chosen and why (``metadata["delivery_choice"]``): WhatsApp with the
organization's approved template for the kind when the contact has a phone and may be messaged,
email (with the ``.ics``) as the fallback, or a ``skipped`` row when neither is possible.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.models import Membership
from accounts.roles import Role
from notifications import services as notification_services
from notifications.models import NotificationLog, Status
from notifications.registry import Channel
from scheduling import ics, links
from scheduling.models import Appointment, NotificationKind

logger = logging.getLogger(__name__)

# The outbox event type of each customer message kind.
CUSTOMER_EVENT_TYPES = {
    NotificationKind.CONFIRMATION: "appointment_confirmed",
    NotificationKind.REMINDER: "appointment_reminder",
    NotificationKind.CANCELLATION: "appointment_cancelled",
    NotificationKind.RESCHEDULE: "appointment_rescheduled",
    NotificationKind.FOLLOW_UP: "appointment_completed",
}


def _local(appointment: Appointment, moment: datetime.datetime) -> datetime.datetime:
    """A naive wall-clock time of the organization: templates print it as is."""
    return moment.astimezone(appointment.organization.tzinfo).replace(tzinfo=None)


# --- Staff ------------------------------------------------------------------------------------


def _staff_context(appointment: Appointment, **extra) -> dict:
    local_day = appointment.start.astimezone(appointment.organization.tzinfo).date()
    return {
        "service_name": appointment.service.name,
        "contact_name": appointment.customer_name,
        "provider_name": appointment.provider.get_full_name(),
        "starts_at": _local(appointment, appointment.start),
        "appointment_url": settings.SITE_URL.rstrip("/")
        + reverse("scheduling:calendar")
        + f"?date={local_day.isoformat()}",
        **extra,
    }


def notify_staff(
    appointment: Appointment, event_type: str, occurrence: str, *, exclude_user_id=None, users=None, **extra
) -> None:
    recipients = [
        u
        for u in (users or [appointment.provider])
        if u is not None and (exclude_user_id is None or u.pk != exclude_user_id)
    ]
    if not recipients:
        return
    notification_services.notify(
        organization=appointment.organization,
        event_type=event_type,
        recipients=recipients,
        context=_staff_context(appointment, **extra),
        dedupe_key=f"appointment-{appointment.pk}:{occurrence}",
        metadata={"appointment_id": appointment.pk, "contact_id": appointment.contact_id},
    )


def organization_admins(appointment: Appointment) -> list:
    return [
        m.user
        for m in Membership.objects.for_organization(appointment.organization)
        .filter(role=Role.ORG_ADMIN)
        .select_related("user")
    ]


# --- Customers --------------------------------------------------------------------------------


def customer_message(appointment: Appointment, *, kind: str, key: str) -> tuple[NotificationLog, bool]:
    """The customer's message about ``appointment`` for occurrence ``key`` (``booked``,
    ``reminder:1440`` …), written once; returns ``(row, created)``."""
    from scheduling import customer_whatsapp

    dedupe_key = f"appointment-{appointment.pk}:{key}:customer"
    base = {
        "organization": appointment.organization,
        "event_type": CUSTOMER_EVENT_TYPES[kind],
        "contact_id": appointment.contact_id,
        "dedupe_key": dedupe_key,
    }
    metadata = {"appointment_id": appointment.pk, "contact_id": appointment.contact_id, "kind": kind, "key": key}
    if appointment.contact is not None and appointment.contact.is_blocked:
        return notification_services.outbox_enqueue(
            **base,
            channel=Channel.EMAIL,
            recipient="",
            status=Status.SKIPPED,
            reason="blocked",
            error="The contact is blocked: blocked contacts get no messages.",
            metadata={**metadata, "delivery_choice": {"channel": "none", "why": "blocked"}},
        )
    whatsapp, why_not = customer_whatsapp.plan(appointment, kind=kind)
    if whatsapp is not None:
        return notification_services.outbox_enqueue(
            **base,
            channel=Channel.WHATSAPP,
            recipient=whatsapp.phone,
            transport="whatsapp.direct",
            payload=whatsapp.payload,
            message=whatsapp.text,
            metadata={**metadata, "delivery_choice": {"channel": "whatsapp", "template": whatsapp.template_name}},
        )
    choice = {"channel": "email", "why_not_whatsapp": why_not}
    if not appointment.customer_email:
        return notification_services.outbox_enqueue(
            **base,
            channel=Channel.EMAIL,
            recipient="",
            status=Status.SKIPPED,
            reason="no_address",
            error=f"No email address, and no WhatsApp: {why_not}",
            metadata={**metadata, "delivery_choice": {"channel": "none", "why_not_whatsapp": why_not}},
        )
    return notification_services.outbox_enqueue(
        **base,
        channel=Channel.EMAIL,
        recipient=appointment.customer_email,
        transport="scheduling.email",
        payload={"appointment_id": appointment.pk, "kind": kind, "key": key},
        metadata={**metadata, "delivery_choice": choice},
    )


def _email_context(appointment: Appointment, *, kind: str, key: str) -> dict:
    manage = links.manage_url(appointment)
    offset = key.split(":", 1)[1] if key.startswith("reminder:") else ""
    hours = int(offset) / 60 if offset else None
    return {
        "appointment": appointment,
        "organization": appointment.organization,
        "service": appointment.service,
        "provider_name": appointment.provider.get_full_name(),
        "starts_at": _local(appointment, appointment.start),
        "ends_at": _local(appointment, appointment.end),
        "time_zone": appointment.organization.time_zone,
        "manage_url": manage,
        "book_url": settings.SITE_URL.rstrip("/") + reverse("scheduling:book", args=[appointment.organization.slug]),
        "google_url": ics.google_calendar_url(appointment, manage_url=manage),
        "outlook_url": ics.outlook_calendar_url(appointment, manage_url=manage),
        "previous": appointment.rescheduled_from,
        "previous_starts_at": _local(appointment, appointment.rescheduled_from.start)
        if appointment.rescheduled_from_id
        else None,
        "reminder_hours": f"{hours:g}" if hours is not None else "",
        "kind": kind,
    }


def build_customer_email(row: NotificationLog) -> EmailMultiAlternatives:
    """The customer's email for an outbox row of ``scheduling.email``, built from the appointment as
    it is now (so the manage link and times are current), with the ``.ics`` attached."""
    kind, key = row.payload["kind"], row.payload["key"]
    appointment = Appointment.objects.select_related("organization", "service", "provider", "rescheduled_from").get(
        pk=row.payload["appointment_id"], organization_id=row.organization_id
    )
    context = _email_context(appointment, kind=kind, key=key)
    base = f"scheduling/email/{kind}"
    with translation.override(appointment.organization.locale):
        subject = " ".join(render_to_string(f"{base}.subject.txt", context).split())[:200]
        text = render_to_string(f"{base}.txt", context).strip()
        html = render_to_string(f"{base}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.recipient],
        headers={"Message-ID": row.message_id_header, "X-PyTake-Notification": str(row.pk)},
    )
    message.attach_alternative(html, "text/html")
    if kind != NotificationKind.FOLLOW_UP:
        cancelled = kind == NotificationKind.CANCELLATION
        method = "CANCEL" if cancelled else "REQUEST"
        message.attach(
            "appointment.ics",
            ics.appointment_ics(appointment, manage_url=context["manage_url"], cancelled=cancelled),
            f"text/calendar; method={method}; charset=utf-8",
        )
    return message
