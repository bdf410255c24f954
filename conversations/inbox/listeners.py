"""Realtime fan-out of domain events to the inbox tabs (after the commit, by ``pytake.events``).

Each event becomes one numbered entry of the organization's stream (``realtime.publish``),
carrying what a tab needs to show it without a request: for a message, the message as the pane
renders it and the conversation's list item, in each language of the site; for a change of a
conversation (its list's counts and membership change: the tab refreshes the list once per
burst), its ids. Each carries the event's audience (the
conversation's queues and the people it concerns) for ``realtime.may_see``. Every Daphne
process reads the stream once and fans out to its tabs (``hub``).

(The personal group ``org-<id>.user-<id>`` on the channel layer carries the notifications app's
messages only: every consumer joined to it must handle each type sent there.)
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import translation

from conversations.inbox import realtime
from conversations.inbox.selectors import LABEL_LIST
from conversations.models import Conversation, Message
from pytake.events import Event, listener

logger = logging.getLogger(__name__)

TEMPLATE = "conversations/inbox/inbox.html"
MESSAGE_EVENTS = ("message.received", "message.sent", "message.updated")
CONVERSATION_EVENTS = (
    "conversation.created",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.closed",
    "conversation.reopened",
    "conversation.snoozed",
    "conversation.woken",
    "csat.rated",
)
AUDIENCE_QUEUE_KEYS = ("queue_id", "from_queue_id", "to_queue_id")
AUDIENCE_USER_KEYS = ("agent_id", "previous_agent_id", "from_agent_id", "to_agent_id")


def _conversation(organization_id: int, conversation_id: int) -> Conversation | None:
    last_message = Message.objects.filter(conversation=OuterRef("pk"), is_internal_note=False).order_by(
        "-created_at", "-id"
    )
    return (
        Conversation.objects.filter(organization_id=organization_id, pk=conversation_id)
        .select_related("organization", "contact", "queue", "assignee__user")
        .annotate(
            label_list=LABEL_LIST,
            preview=Subquery(last_message.values("body")[:1]),
            preview_direction=Subquery(last_message.values("direction")[:1]),
        )
        .first()
    )


def _per_language(partial: str, context: dict) -> dict[str, str]:
    rendered = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            rendered[code] = render_to_string(f"{TEMPLATE}#{partial}", context).strip()
    return rendered


def _audience(event: Event, queue_id: int | None, user_id: int | None) -> dict:
    """The conversation's queues and people now and before (an agent it left must hear it left)."""
    queues = {queue_id} | {event.payload.get(key) for key in AUDIENCE_QUEUE_KEYS}
    users = {user_id} | {event.payload.get(key) for key in AUDIENCE_USER_KEYS}
    return {"queues": sorted(q for q in queues if q), "users": sorted(u for u in users if u)}


def _list_item(conversation: Conversation) -> dict[str, str]:
    return _per_language(
        "live-item", {"item": conversation, "current_organization": conversation.organization, "state_query": ""}
    )


@listener(*MESSAGE_EVENTS)
def message_to_inbox(event: Event) -> None:
    conversation_id = event.payload.get("conversation_id")
    message_id = event.payload.get("message_id")
    if not conversation_id or not message_id:
        return
    conversation = _conversation(event.organization_id, conversation_id)
    message = (
        Message.objects.filter(organization_id=event.organization_id, pk=message_id).select_related("author").first()
    )
    if conversation is None or message is None:
        return
    entry = {
        "event": event.name,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "author_id": event.payload.get("author_id"),
        "agent_id": conversation.agent_user_id,
        "note": message.is_internal_note,
        "html": _per_language(
            "history-newer",
            {
                "conversation": conversation,
                "history": {"messages": [message]},
                "current_organization": conversation.organization,
            },
        ),
        **_audience(event, conversation.queue_id, conversation.agent_user_id),
    }
    if not message.is_internal_note and event.name != "message.updated":  # an update does not move the item
        entry["item"] = _list_item(conversation)
    realtime.publish(event.organization_id, entry)


@listener(*CONVERSATION_EVENTS)
def conversation_to_inbox(event: Event) -> None:
    """Ids and the audience only: a list whose counts or membership change refreshes itself (once per burst)."""
    conversation_id = event.payload.get("conversation_id")
    if not conversation_id:
        return
    row = (
        Conversation.objects.filter(organization_id=event.organization_id, pk=conversation_id)
        .values("queue_id", "assignee__user_id")
        .first()
    )
    if row is None:
        return
    realtime.publish(
        event.organization_id,
        {
            "event": event.name,
            "conversation_id": conversation_id,
            "agent_id": event.payload.get("agent_id"),
            "by_id": event.payload.get("assigned_by_id") or event.payload.get("by_id"),
            **_audience(event, row["queue_id"], row["assignee__user_id"]),
        },
    )


@listener("sla.warning", "sla.breached")
def sla_to_inbox(event: Event) -> None:
    """The badge of a tab whose clock drifted, or that opened before the target changed, follows the sweep.

    From the payload alone (the sweep's events carry queue and agent): no query per raised event.
    """
    conversation_id = event.payload.get("conversation_id")
    if not conversation_id:
        return
    realtime.publish(
        event.organization_id,
        {
            "event": event.name,
            "conversation_id": conversation_id,
            "agent_id": event.payload.get("agent_id"),
            **_audience(event, event.payload.get("queue_id"), event.payload.get("agent_id")),
        },
    )


@listener("contact.updated")
def contact_to_inbox(event: Event) -> None:
    """The contact's id only, seen by every tab of the organization: a tab showing the contact's
    panel reloads it (the panel's own view checks who may see what), the list refreshes its names."""
    contact_id = event.payload.get("contact_id")
    if not contact_id:
        return
    realtime.publish(
        event.organization_id,
        {"event": event.name, "contact_id": contact_id, "queues": [], "users": []},
    )
