"""The events an endpoint may subscribe to: the domain events (``pytake/events.py``) by name."""

from __future__ import annotations

WEBHOOK_EVENTS: tuple[str, ...] = (
    "conversation.created",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.closed",
    "conversation.reopened",
    "message.received",
    "message.sent",
    "contact.created",
    "sla.warning",
    "sla.breached",
    "agent.offline",
    "whatsapp_template.status_changed",
    "appointment.created",
    "appointment.confirmed",
    "appointment.cancelled",
    "appointment.rescheduled",
    "appointment.completed",
    "appointment.no_show",
    "campaign.started",
    "campaign.paused",
    "campaign.resumed",
    "campaign.cancelled",
    "campaign.completed",
    "campaign.failed",
)
# Sent by the "send a test event" action only (never by a domain event).
TEST_EVENT = "webhook.test"
