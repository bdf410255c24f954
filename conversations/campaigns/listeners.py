"""Campaign reactions to conversation events: a reply within 72 hours counts for the campaign."""

from __future__ import annotations

from pytake.events import IN_TRANSACTION, Event, listener


@listener("message.received", phase=IN_TRANSACTION)
def on_message_received(event: Event) -> None:
    from conversations.campaigns.services import recipient_replied

    contact_id, conversation_id = event.payload.get("contact_id"), event.payload.get("conversation_id")
    if contact_id and conversation_id:
        recipient_replied(organization_id=event.organization_id, contact_id=contact_id, conversation_id=conversation_id)
