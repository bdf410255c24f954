"""Appointment events → staff notifications and customer messages, written inside the event's
transaction (the outbox): a rolled-back action leaves none, a committed one cannot lose them.

Payloads carry ids (see ``pytake/events.py``); each listener loads the appointment fresh.
"""

from __future__ import annotations

import logging

from pytake.events import IN_TRANSACTION, Event, listener
from scheduling import buttons, notifications
from scheduling.models import Appointment, NotificationKind

logger = logging.getLogger(__name__)


def _appointment(event: Event) -> Appointment | None:
    appointment = (
        Appointment.objects.select_related("organization", "service", "provider", "contact", "rescheduled_from")
        .filter(pk=event.payload.get("appointment_id"), organization_id=event.organization_id)
        .first()
    )
    if appointment is None:
        logger.warning("%s: appointment %s not found", event.name, event.payload.get("appointment_id"))
    return appointment


@listener("appointment.created", phase=IN_TRANSACTION)
def on_created(event: Event) -> None:
    appointment = _appointment(event)
    if appointment is None:
        return
    notifications.notify_staff(appointment, "appointment_created", "created")
    notifications.customer_message(appointment, kind=NotificationKind.CONFIRMATION, key="booked")


@listener("appointment.confirmed", phase=IN_TRANSACTION)
def on_confirmed(event: Event) -> None:
    if event.payload.get("at_booking") or event.payload.get("via") == "whatsapp_button":
        return  # the booking's own confirmation already went out, or the customer was answered in the chat
    appointment = _appointment(event)
    if appointment is None:
        return
    notifications.customer_message(appointment, kind=NotificationKind.CONFIRMATION, key="confirmed")


@listener("appointment.cancelled", phase=IN_TRANSACTION)
def on_cancelled(event: Event) -> None:
    appointment = _appointment(event)
    if appointment is None:
        return
    notifications.notify_staff(
        appointment,
        "appointment_cancelled",
        "cancelled",
        exclude_user_id=event.payload.get("by_id"),
        reason=appointment.cancellation_reason,
    )
    if event.payload.get("via") != "whatsapp_button":  # else the customer was answered in the chat
        notifications.customer_message(appointment, kind=NotificationKind.CANCELLATION, key="cancelled")


@listener("appointment.rescheduled", phase=IN_TRANSACTION)
def on_rescheduled(event: Event) -> None:
    appointment = _appointment(event)
    if appointment is None:
        return
    previous = appointment.rescheduled_from
    users = [appointment.provider]
    if previous is not None and previous.provider_id != appointment.provider_id:
        users.append(previous.provider)
    notifications.notify_staff(
        appointment, "appointment_rescheduled", "rescheduled", exclude_user_id=event.payload.get("by_id"), users=users
    )
    notifications.customer_message(appointment, kind=NotificationKind.RESCHEDULE, key="rescheduled")


@listener("appointment.completed", phase=IN_TRANSACTION)
def on_completed(event: Event) -> None:
    appointment = _appointment(event)
    if appointment is None:
        return
    notifications.customer_message(appointment, kind=NotificationKind.FOLLOW_UP, key="follow_up")


@listener("appointment.no_show", phase=IN_TRANSACTION)
def on_no_show(event: Event) -> None:
    appointment = _appointment(event)
    if appointment is None:
        return
    notifications.notify_staff(
        appointment, "appointment_no_show", "no_show", users=notifications.organization_admins(appointment)
    )


@listener("appointment.reminder", phase=IN_TRANSACTION)
def on_reminder(event: Event) -> None:
    appointment = _appointment(event)
    if appointment is None:
        return
    offset = int(event.payload["offset_minutes"])
    notifications.customer_message(appointment, kind=NotificationKind.REMINDER, key=f"reminder:{offset}")
    notifications.notify_staff(appointment, "appointment_reminder", f"reminder:{offset}")


def _is_appointment_button(event: Event) -> bool:
    return str(event.payload.get("reply_payload") or "").startswith(buttons.PREFIX)


@listener("message.received", phase=IN_TRANSACTION, when=_is_appointment_button)
def on_button_reply(event: Event) -> None:
    """A customer tapped "Confirm" or "Cancel" on an appointment message (quick-reply button)."""
    payload = event.payload["reply_payload"]
    buttons.appointment_button_reply_handle(
        organization_id=event.organization_id,
        payload=payload,
        contact_id=event.payload.get("contact_id"),
        conversation_id=event.payload.get("conversation_id"),
    )


@listener(
    "appointment.created",
    "appointment.confirmed",
    "appointment.cancelled",
    "appointment.rescheduled",
    "appointment.completed",
    "appointment.no_show",
    phase=IN_TRANSACTION,
)
def on_appointment_changed_reports(event: Event) -> None:
    """Keep the appointment rollups of the reports current (``scheduling/reports.py``)."""
    from conversations.reports.services import rollup_add
    from scheduling import reports

    appointment = _appointment(event)
    if appointment is None:
        return
    reports.appointment_cell_refresh(appointment=appointment)
    if event.name == "appointment.created":
        rollup_add(reports.booked_facts(appointment))
