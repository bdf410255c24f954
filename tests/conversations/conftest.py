from __future__ import annotations

from tests.recording import event_recorder

NAMES = (
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
    "whatsapp_template.status_changed",
)

recorded_events = event_recorder(
    *NAMES, doc="Events delivered to listeners while the test runs (after their transaction commits)."
)


def names(recorded) -> list[str]:
    return [event.name for event in recorded]
