"""Domain events → webhook deliveries, written in the event's transaction (the outbox)."""

from __future__ import annotations

from notifications.webhooks import services
from notifications.webhooks.events import WEBHOOK_EVENTS
from pytake.events import IN_TRANSACTION, Event, listener


def _routed(event: Event) -> bool:
    """Some active endpoint of the organization wants this event (a cached answer: no query)."""
    return event.name in services.routes_for(event.organization_id)


@listener(*WEBHOOK_EVENTS, phase=IN_TRANSACTION, when=_routed)
def on_event(event: Event) -> None:
    services.deliveries_create(organization_id=event.organization_id, event_type=event.name, data=dict(event.payload))
