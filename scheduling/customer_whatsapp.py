"""Whether a customer's appointment message can go over WhatsApp, and the rendered template if so.

WhatsApp first: the organization picks an approved utility template per message kind (scheduling
settings). Email is the fallback when the contact has no phone, opted out, or the template is
missing or not approved; the reason is returned so the outbox row records the choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from conversations.models import OptIn
from scheduling.models import Appointment


@dataclass(frozen=True)
class WhatsAppPlan:
    phone: str
    payload: dict  # for the outbox's ``whatsapp.direct`` transport: channel_id and the Graph message
    text: str  # the rendered message as the customer reads it
    template_name: str


def plan(appointment: Appointment, *, kind: str) -> tuple[WhatsAppPlan | None, str]:
    """``(plan, "")`` when the message goes over WhatsApp, else ``(None, why not)``."""
    contact = appointment.contact
    if contact is None or not contact.phone:
        return None, _("the contact has no phone number")
    if contact.opt_in == OptIn.OPTED_OUT:
        return None, _("the contact opted out of WhatsApp messages")
    return None, _("no WhatsApp template is chosen for this message")
