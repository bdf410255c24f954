"""The notification event types: one definition drives decisions, templates and the settings page.

A caller of ``notifications.services.notify`` names one of these. Each event type says which
channels it may use (a user's preferences then switch channels and event types on or off),
whether it may be urgent (urgent events may bypass quiet hours when the organization allows it),
and where its templates are: ``notifications/email/<name>.subject.txt`` (one line),
``<name>.txt`` (plain text, also the body of SMS, WhatsApp and in-app entries) and ``<name>.html``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WEBSOCKET = "websocket", _("Live (browser)")
    IN_APP = "in_app", _("In-app")


# Deliveries to systems, not people: no preference or quiet hours applies (outbound webhooks).
SYSTEM_CHANNELS: dict[str, object] = {"webhook": _("Webhook")}
LOG_CHANNEL_CHOICES = [*Channel.choices, *SYSTEM_CHANNELS.items()]

ALL_CHANNELS: tuple[str, ...] = tuple(Channel.values)
# Channels that interrupt a person: quiet hours and hourly limits apply to them.
INTERRUPTING_CHANNELS: tuple[str, ...] = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)
# Channels whose address is a phone number (from the preference).
PHONE_CHANNELS: tuple[str, ...] = (Channel.SMS, Channel.WHATSAPP)


@dataclass(frozen=True)
class EventType:
    name: str
    label: str
    channels: tuple[str, ...] = ALL_CHANNELS
    urgent_capable: bool = False
    default_enabled: bool = True
    user_configurable: bool = True
    # "staff": sent by ``notify()`` to users, from the templates below; "contact": a customer
    # message written by its app with ``outbox_enqueue()`` (its own content, no preferences).
    audience: str = "staff"

    def template(self, kind: str) -> str:
        """``kind`` is ``subject.txt``, ``txt`` or ``html``."""
        return f"notifications/email/{self.name}.{kind}"


_LIVE = (Channel.WEBSOCKET, Channel.IN_APP)

EVENT_TYPES: dict[str, EventType] = {
    e.name: e
    for e in [
        EventType("conversation_assigned", _("Conversation assigned to me")),
        EventType("sla_warning", _("SLA about to be breached"), urgent_capable=True),
        EventType("sla_breached", _("SLA breached"), urgent_capable=True),
        EventType("conversation_closed", _("Conversation closed"), channels=(Channel.EMAIL, *_LIVE)),
        EventType("new_contact", _("New contact"), channels=_LIVE),
        EventType("agent_offline", _("Agent went offline"), channels=(Channel.EMAIL, *_LIVE)),
        EventType("campaign_failed", _("Campaign failed"), urgent_capable=True),
        EventType("appointment_created", _("New appointment booked")),
        EventType("appointment_confirmed", _("Appointment confirmed")),
        EventType("appointment_cancelled", _("Appointment cancelled")),
        EventType("appointment_rescheduled", _("Appointment rescheduled")),
        EventType("appointment_reminder", _("Appointment reminder")),
        EventType("appointment_completed", _("Appointment completed (follow-up)")),
        EventType("appointment_no_show", _("Appointment no-show")),
        EventType("mention", _("Mentioned in an internal note"), channels=(Channel.EMAIL, *_LIVE)),
        EventType("webhook_disabled", _("Webhook endpoint disabled"), channels=(Channel.EMAIL, *_LIVE)),
        EventType("custom", _("Custom message"), urgent_capable=True),
        # To contacts, not staff: agent replies, templates and automatic replies (no preferences apply).
        EventType(
            "conversation_message",
            _("Message to a contact"),
            channels=(Channel.WHATSAPP,),
            user_configurable=False,
            audience="contact",
        ),
        EventType(
            "csat_survey",
            _("Satisfaction survey to a contact"),
            channels=(Channel.WHATSAPP,),
            user_configurable=False,
            audience="contact",
        ),
        # To an organization's systems: outbound webhooks (notifications/webhooks/).
        EventType(
            "webhook",
            _("Webhook event"),
            channels=("webhook",),
            default_enabled=True,
            user_configurable=False,
            audience="system",
        ),
        EventType("test", _("Test notification"), user_configurable=False),
    ]
}


def event_type_get(name: str) -> EventType:
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown notification event type {name!r}; known: {', '.join(EVENT_TYPES)}") from None


def configurable_event_types() -> list[EventType]:
    return [e for e in EVENT_TYPES.values() if e.user_configurable]


def staff_event_types() -> list[EventType]:
    """The event types ``notify()`` sends to users (each has its templates)."""
    return [e for e in EVENT_TYPES.values() if e.audience == "staff"]


EVENT_TYPE_CHOICES = [(e.name, e.label) for e in EVENT_TYPES.values()]
