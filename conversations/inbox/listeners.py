"""Realtime fan-out of domain events to the inbox tabs (after the commit, by ``pytake.events``).

Frames carry ids only: a tab that cares fetches the partial over HTTP, where the same
permission checks as the page apply. One ``group_send`` per event to the organization's
inbox group. (The personal group ``org-<id>.user-<id>`` carries the notifications app's
messages only: every consumer joined to it must handle each type sent there.)
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations.inbox.groups import inbox_group
from pytake.events import Event, listener

MESSAGE_EVENTS = ("message.received", "message.sent")
CONVERSATION_EVENTS = (
    "conversation.created",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.closed",
    "conversation.reopened",
)


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


@listener(*MESSAGE_EVENTS)
def message_to_inbox(event: Event) -> None:
    conversation_id = event.payload.get("conversation_id")
    message_id = event.payload.get("message_id")
    if not conversation_id or not message_id:
        return
    _send(
        inbox_group(event.organization_id),
        {
            "type": "inbox.event",
            "event": event.name,
            "conversation_id": conversation_id,
            "message_id": message_id,
            "author_id": event.payload.get("author_id"),
        },
    )


@listener(*CONVERSATION_EVENTS)
def conversation_to_inbox(event: Event) -> None:
    conversation_id = event.payload.get("conversation_id")
    if not conversation_id:
        return
    _send(
        inbox_group(event.organization_id),
        {
            "type": "inbox.event",
            "event": event.name,
            "conversation_id": conversation_id,
            "agent_id": event.payload.get("agent_id"),
        },
    )
