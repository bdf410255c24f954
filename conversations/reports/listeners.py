"""Rollups kept current by the domain events, inside the event's transaction.

In-transaction on purpose: the increment commits or rolls back with the action, so the counts are
exact (no event lost after a commit, none counted for a rolled-back action). Each listener loads
what it needs in one query (the organization's time zone joined in) and writes with one upsert
(``services.rollup_add``); the facts come from ``facts.py``, as in the rebuild.
"""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from accounts.models import Organization
from conversations import sla
from conversations.models import Contact, Conversation, Direction, Message
from conversations.reports import facts
from conversations.reports.services import rollup_add
from pytake.events import IN_TRANSACTION, Event, listener

logger = logging.getLogger(__name__)

_CONVERSATION_FIELDS = ("created_at", "queue_id", "channel_id", "organization__time_zone")


def _conversation(event: Event, *fields: str) -> dict | None:
    row = (
        Conversation.objects.filter(pk=event.payload.get("conversation_id"), organization_id=event.organization_id)
        .values(*_CONVERSATION_FIELDS, *fields, agent_id=F("assignee__user_id"))
        .first()
    )
    if row is None:
        logger.warning("%s: conversation %s not found", event.name, event.payload.get("conversation_id"))
    return row


def _dims(event: Event, row: dict, prefix: str = "") -> facts.Dims:
    return facts.dims(
        organization_id=event.organization_id,
        time_zone=row[f"{prefix}organization__time_zone"],
        queue_id=row[f"{prefix}queue_id"],
        channel_id=row[f"{prefix}channel_id"],
    )


def _schedule(organization_id: int, time_zone: str):
    """The business hours for business-time durations (two queries: windows, holidays)."""
    return sla.schedule_for(Organization(pk=organization_id, time_zone=time_zone))


@listener("conversation.created", phase=IN_TRANSACTION)
def on_conversation_created(event: Event) -> None:
    row = _conversation(event)
    if row is not None:
        rollup_add(facts.opened(_dims(event, row), row["created_at"]))


@listener("conversation.closed", phase=IN_TRANSACTION)
def on_conversation_closed(event: Event) -> None:
    row = _conversation(event, "closed_at", "resolution_due_at", "resolution_breached_at")
    if row is None or row["closed_at"] is None:
        return
    rollup_add(
        facts.closed(
            _dims(event, row),
            created_at=row["created_at"],
            closed_at=row["closed_at"],
            agent_id=event.payload.get("agent_id"),
            has_target=row["resolution_due_at"] is not None,
            breached_at=row["resolution_breached_at"],
            schedule=_schedule(event.organization_id, row["organization__time_zone"]),
        )
    )


@listener("conversation.reopened", phase=IN_TRANSACTION)
def on_conversation_reopened(event: Event) -> None:
    row = _conversation(event)
    if row is not None:
        rollup_add(facts.reopened(_dims(event, row), timezone.now(), row["agent_id"]))


@listener("sla.warning", "sla.breached", phase=IN_TRANSACTION, batch=True)
def on_sla_raised(events: list[Event]) -> None:
    """A sweep's batch in two queries: the conversations' raise times, then one upsert."""
    by_id = {event.payload.get("conversation_id"): event for event in events}
    rows = Conversation.objects.filter(pk__in=list(by_id)).values(
        "pk",
        "organization_id",
        *_CONVERSATION_FIELDS,
        "first_response_warned_at",
        "first_response_breached_at",
        "resolution_warned_at",
        "resolution_breached_at",
    )
    added = []
    for row in rows:
        event = by_id[row["pk"]]
        if row["organization_id"] != event.organization_id:
            continue
        kind = "resolution" if event.payload.get("kind") == "resolution" else "first_response"
        state = "breached" if event.name == "sla.breached" else "warned"
        at = row[f"{kind}_{state}_at"]
        if at is not None:
            added += facts.sla_raised(_dims(event, row), at, kind, state, event.payload.get("agent_id"))
    rollup_add(added)


def _message(event: Event) -> dict | None:
    row = (
        Message.objects.filter(pk=event.payload.get("message_id"), organization_id=event.organization_id)
        .values(
            "created_at",
            "direction",
            "kind",
            "author_id",
            "author_type",
            "delivery_status",
            "is_internal_note",
            "conversation_id",
            "conversation__created_at",
            "conversation__first_response_at",
            "conversation__first_response_due_at",
            "conversation__queue_id",
            "conversation__channel_id",
            "conversation__organization__time_zone",
        )
        .first()
    )
    if row is None:
        logger.warning("%s: message %s not found", event.name, event.payload.get("message_id"))
    return row


def _message_facts(event: Event, row: dict) -> list[facts.Fact]:
    return facts.message(
        _dims(event, row, "conversation__"),
        created_at=row["created_at"],
        inbound=row["direction"] == Direction.INBOUND,
        kind=row["kind"],
        author_id=row["author_id"],
        delivery_status=row["delivery_status"],
    )


@listener("message.received", phase=IN_TRANSACTION)
def on_message_received(event: Event) -> None:
    row = _message(event)
    if row is not None:
        rollup_add(_message_facts(event, row))


@listener("message.sent", phase=IN_TRANSACTION)
def on_message_sent(event: Event) -> None:
    row = _message(event)
    if row is None or row["is_internal_note"]:
        return
    added = _message_facts(event, row)
    if event.payload.get("first_response") and row["conversation__first_response_at"] is not None:
        added += facts.first_response(
            _dims(event, row, "conversation__"),
            created_at=row["conversation__created_at"],
            responded_at=row["conversation__first_response_at"],
            responder_id=row["author_id"],
            due_at=row["conversation__first_response_due_at"],
            schedule=_schedule(event.organization_id, row["conversation__organization__time_zone"]),
        )
    rollup_add(added)


@listener("message.status_changed", phase=IN_TRANSACTION)
def on_message_status_changed(event: Event) -> None:
    row = _message(event)
    if row is None or row["direction"] != Direction.OUTBOUND or row["is_internal_note"]:
        return
    rollup_add(
        facts.delivery_moved(
            _dims(event, row, "conversation__"),
            created_at=row["created_at"],
            author_id=row["author_id"],
            previous=event.payload.get("previous_status", ""),
            status=event.payload.get("status", ""),
        )
    )


@listener("contact.created", phase=IN_TRANSACTION)
def on_contact_created(event: Event) -> None:
    row = (
        Contact.objects.filter(pk=event.payload.get("contact_id"), organization_id=event.organization_id)
        .values("created_at", "organization__time_zone")
        .first()
    )
    if row is not None:
        rollup_add(
            facts.contact_created(
                organization_id=event.organization_id,
                tz=facts.ZoneInfo(row["organization__time_zone"]),
                created_at=row["created_at"],
            )
        )
