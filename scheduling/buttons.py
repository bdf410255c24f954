"""The "Confirm" / "Cancel" quick-reply buttons of appointment messages on WhatsApp.

Each button carries a signed payload naming the appointment and the action
(``appt:<id>:<action>:<signature>``); WhatsApp sends it back when the customer taps. The tap acts
on the appointment at most once (a second tap finds it already confirmed or cancelled and says
so) and the customer is answered in the same chat. A payload that is not ours, tampered, or for
another organization's or another contact's appointment does nothing.
"""

from __future__ import annotations

import logging

from django.core import signing
from django.utils import formats, translation
from django.utils.translation import gettext as _

from scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentStatus

logger = logging.getLogger(__name__)

PREFIX = "appt:"
CONFIRM, CANCEL = "confirm", "cancel"
_signer = signing.Signer(salt="pytake.scheduling.appointment-button", sep=":")


def button_payload(appointment: Appointment, action: str) -> str:
    """The signed payload of ``action``'s button for ``appointment`` (well under WhatsApp's 256 characters)."""
    if action not in (CONFIRM, CANCEL):
        raise ValueError(f"unknown appointment button action {action!r}")
    return _signer.sign(f"{PREFIX.rstrip(':')}:{appointment.pk}:{action}")


def parse_payload(payload: str) -> tuple[int, str] | None:
    """``(appointment id, action)`` from a payload we signed, else ``None``."""
    try:
        value = _signer.unsign(payload)
    except signing.BadSignature:
        return None
    parts = value.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in (CONFIRM, CANCEL):
        return None
    return int(parts[1]), parts[2]


def _when(appointment: Appointment) -> str:
    local = appointment.start.astimezone(appointment.organization.tzinfo)
    return formats.date_format(local, "DATETIME_FORMAT")


def _answer(appointment: Appointment, action: str, outcome: str) -> str:
    """The chat answer, in the organization's language."""
    org = appointment.organization
    with translation.override(org.locale):
        values = {"service": appointment.service.name, "when": _when(appointment), "organization": org.name}
        if outcome == "confirmed":
            return _("Thank you! Your %(service)s appointment on %(when)s is confirmed.") % values
        if outcome == "already_confirmed":
            return _("Your %(service)s appointment on %(when)s was already confirmed. See you then!") % values
        if outcome == "cancelled":
            return _("Your %(service)s appointment on %(when)s is cancelled. We hope to see you another time.") % values
        if outcome == "already_cancelled":
            return _("Your %(service)s appointment on %(when)s was already cancelled.") % values
        if outcome == "too_late":
            return (
                _(
                    "It is too late to cancel your %(service)s appointment on %(when)s here. Please contact %(organization)s."
                )
                % values
            )
        return _("This appointment can no longer be changed here. Please contact %(organization)s.") % values


def appointment_button_reply_handle(
    *, organization_id: int, payload: str, contact_id: int | None, conversation_id: int | None
) -> str | None:
    """Apply a tapped button inside the inbound message's transaction; returns the outcome or ``None``."""
    from conversations import services as conversation_services
    from conversations.models import Conversation
    from scheduling import services

    parsed = parse_payload(payload)
    if parsed is None:
        logger.warning("appointment button payload with a bad signature in organization %s", organization_id)
        return None
    appointment_id, action = parsed
    appointment = (
        Appointment.objects.select_related("organization", "service", "contact")
        .filter(pk=appointment_id, organization_id=organization_id, contact_id=contact_id)
        .first()
    )
    if appointment is None:
        logger.warning("appointment button for appointment %s not of this contact/organization", appointment_id)
        return None
    if action == CONFIRM:
        if appointment.status == AppointmentStatus.CONFIRMED:
            outcome = "already_confirmed"
        elif appointment.status == AppointmentStatus.PENDING:
            services.appointment_confirm(appointment=appointment, via="whatsapp_button")
            outcome = "confirmed"
        else:
            outcome = "already_cancelled" if appointment.status == AppointmentStatus.CANCELLED else "unchangeable"
    else:
        if appointment.status == AppointmentStatus.CANCELLED:
            outcome = "already_cancelled"
        elif appointment.status in ACTIVE_STATUSES:
            try:
                services.appointment_cancel(
                    appointment=appointment,
                    reason=_("Cancelled by the customer on WhatsApp"),
                    by_customer=True,
                    via="whatsapp_button",
                )
                outcome = "cancelled"
            except services.ChangeNotAllowed:
                outcome = "too_late"
        else:
            outcome = "unchangeable"
    appointment.refresh_from_db()
    conversation = (
        Conversation.objects.for_organization(appointment.organization)
        .select_related("contact", "channel", "organization")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is not None:
        conversation_services.message_send_automatic(
            conversation=conversation, body=_answer(appointment, action, outcome), reason="appointment_button"
        )
    return outcome
