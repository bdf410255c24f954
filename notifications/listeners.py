"""Conversation and agent events → notifications, written inside the event's transaction (outbox).

Payloads carry ids (see the contract in ``pytake/events.py``); each listener loads fresh state
here. If a row is gone (or the conversations app is not installed), the listener logs and still
notifies with what the payload says: a failing lookup never loses the notification.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict

from django.apps import apps
from django.conf import settings
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organization
from accounts.roles import Role
from notifications import services
from pytake.events import IN_TRANSACTION, Event, listener

logger = logging.getLogger(__name__)


def _model(name: str):
    try:
        return apps.get_model("conversations", name)
    except LookupError:
        return None


def _organization(event: Event) -> Organization | None:
    organization = Organization.objects.filter(pk=event.organization_id, is_active=True).first()
    if organization is None:
        logger.warning("event %s for an unknown or inactive organization %s", event.name, event.organization_id)
    return organization


def _members(organization: Organization, *, user_ids=(), roles=()) -> list:
    queryset = Membership.objects.for_organization(organization).select_related("user").filter(user__is_active=True)
    if user_ids:
        queryset = queryset.filter(user_id__in=[u for u in user_ids if u])
    if roles:
        queryset = queryset.filter(role__in=roles)
    if not user_ids and not roles:
        return []
    return [m.user for m in queryset]


def _conversations(organization: Organization, ids) -> dict:
    """The conversations of ``organization`` with these ids, loaded with what the templates show."""
    Conversation = _model("Conversation")
    ids = [i for i in ids if i]
    if Conversation is None or not ids:
        return {}
    found = {
        c.pk: c
        for c in Conversation.objects.for_organization(organization)
        .select_related("contact", "queue", "assignee__user", "closed_by")
        .filter(pk__in=ids)
    }
    for missing in set(ids) - set(found):
        logger.warning("conversation %s of organization %s not found for a notification", missing, organization.pk)
    return found


def _conversation_context(organization: Organization, conversation_id) -> dict:
    return _context_from(_conversations(organization, [conversation_id]).get(conversation_id), conversation_id)


def _metadata(event: Event, **ids) -> dict:
    return {
        "event": event.name,
        **{k: v for k, v in {**event.payload, **ids}.items() if k.endswith("_id") and v is not None},
    }


@listener("conversation.assigned", phase=IN_TRANSACTION)
def on_conversation_assigned(event: Event) -> None:
    agent_id = event.payload.get("agent_id")
    if not agent_id or agent_id == event.payload.get("assigned_by_id"):
        return  # unassigned, or the agent took it themself: nothing to tell them
    organization = _organization(event)
    if organization is None:
        return
    context = _conversation_context(organization, event.payload.get("conversation_id"))
    assigned_at = context.get("assigned_at")
    key = f"{event.payload.get('conversation_id')}:{agent_id}:{assigned_at.isoformat()}" if assigned_at else None
    services.notify(
        organization=organization,
        event_type="conversation_assigned",
        recipients=_members(organization, user_ids=[agent_id]),
        context=context,
        dedupe_key=key,
        metadata=_metadata(event),
    )


def _context_from(conversation, conversation_id) -> dict:
    context = {"conversation_id": conversation_id}
    if conversation_id:
        context["conversation_url"] = f"{settings.SITE_URL.rstrip('/')}/inbox/?c={conversation_id}"
    if conversation is None:
        return context
    context.update(
        contact_name=conversation.contact.name or conversation.contact.phone,
        contact_phone=conversation.contact.phone,
        queue_name=conversation.queue.name if conversation.queue_id else "",
        agent_name=conversation.assignee.user.get_full_name() if conversation.assignee_id else "",
        closed_by_name=conversation.closed_by.get_full_name() if conversation.closed_by_id else "",
        assigned_at=conversation.assigned_at,
        closed_at=conversation.closed_at,
    )
    return context


def _sla_batch(events: list[Event], event_type: str, urgent: bool) -> None:
    """SLA warnings or breaches of a sweep's batch: a fixed number of queries per organization."""
    by_org: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_org[event.organization_id].append(event)
    organizations = {o.pk: o for o in Organization.objects.filter(pk__in=list(by_org), is_active=True)}
    for organization_id, batch in by_org.items():
        organization = organizations.get(organization_id)
        if organization is None:
            logger.warning(
                "%d %s events for an unknown or inactive organization %s", len(batch), event_type, organization_id
            )
            continue
        conversations = _conversations(organization, [e.payload.get("conversation_id") for e in batch])
        agent_ids = {e.payload.get("agent_id") for e in batch if e.payload.get("agent_id")}
        members = list(
            Membership.objects.for_organization(organization)
            .select_related("user")
            .filter(user__is_active=True)
            .filter(Q(role=Role.ORG_ADMIN) | Q(user_id__in=agent_ids))
        )
        admins = [m.user for m in members if m.role == Role.ORG_ADMIN]
        users = {m.user_id: m.user for m in members}
        items = []
        for event in batch:
            payload = event.payload
            conversation_id = payload.get("conversation_id")
            if conversation_id and conversation_id not in conversations:
                logger.warning(
                    "conversation %s of organization %s not found for a notification", conversation_id, organization.pk
                )
            context = _context_from(conversations.get(conversation_id), conversation_id)
            kind = payload.get("kind", "")
            context["kind_label"] = {"first_response": _("First response"), "resolution": _("Resolution")}.get(
                kind, kind
            )
            due_at = (
                parse_datetime(payload["due_at"]) if isinstance(payload.get("due_at"), str) else payload.get("due_at")
            )
            context["due_at"] = due_at if isinstance(due_at, datetime.datetime) else None
            agent = users.get(payload.get("agent_id"))
            recipients = ([agent] if agent is not None else []) + admins
            items.append(
                services.NotifyItem(
                    recipients=recipients,
                    context=context,
                    urgent=urgent,
                    dedupe_key=f"{conversation_id}:{kind}",
                    metadata=_metadata(event),
                )
            )
        services.notify_many(organization=organization, event_type=event_type, items=items)


@listener("sla.warning", phase=IN_TRANSACTION, batch=True)
def on_sla_warning(events: list[Event]) -> None:
    _sla_batch(events, "sla_warning", urgent=False)


@listener("sla.breached", phase=IN_TRANSACTION, batch=True)
def on_sla_breached(events: list[Event]) -> None:
    _sla_batch(events, "sla_breached", urgent=True)


@listener("conversation.closed", phase=IN_TRANSACTION)
def on_conversation_closed(event: Event) -> None:
    agent_id = event.payload.get("agent_id")
    if not agent_id or agent_id == event.payload.get("closed_by_id"):
        return  # nobody held it, or the agent closed it themself
    organization = _organization(event)
    if organization is None:
        return
    context = _conversation_context(organization, event.payload.get("conversation_id"))
    closed_at = context.get("closed_at")
    services.notify(
        organization=organization,
        event_type="conversation_closed",
        recipients=_members(organization, user_ids=[agent_id]),
        context=context,
        dedupe_key=f"{event.payload.get('conversation_id')}:{closed_at.isoformat()}" if closed_at else None,
        metadata=_metadata(event),
    )


@listener("contact.created", phase=IN_TRANSACTION)
def on_contact_created(event: Event) -> None:
    organization = _organization(event)
    if organization is None:
        return
    contact_id = event.payload.get("contact_id")
    context = {"contact_id": contact_id}
    Contact = _model("Contact")
    contact = (
        Contact.objects.for_organization(organization).filter(pk=contact_id).first() if Contact is not None else None
    )
    if contact is not None:
        context.update(contact_name=contact.name or contact.phone, contact_phone=contact.phone)
    else:
        logger.warning("contact %s of organization %s not found for a notification", contact_id, organization.pk)
    services.notify(
        organization=organization,
        event_type="new_contact",
        recipients=_members(organization, roles=[Role.ORG_ADMIN]),
        context=context,
        dedupe_key=str(contact_id),
        metadata=_metadata(event),
    )


@listener("agent.offline", phase=IN_TRANSACTION)
def on_agent_offline(event: Event) -> None:
    organization = _organization(event)
    if organization is None:
        return
    membership = (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .filter(pk=event.payload.get("membership_id"))
        .first()
    )
    if membership is None:
        logger.warning(
            "membership %s of organization %s not found for agent.offline",
            event.payload.get("membership_id"),
            organization.pk,
        )
        return
    context = {"agent_name": membership.user.get_full_name()}
    Conversation = _model("Conversation")
    if Conversation is not None:
        context["open_conversations"] = (
            Conversation.objects.for_organization(organization)
            .filter(assignee=membership, status__in=["open", "pending"])
            .count()
        )
    admins = [u for u in _members(organization, roles=[Role.ORG_ADMIN]) if u.pk != membership.user_id]
    changed = membership.status_changed_at.isoformat() if membership.status_changed_at else None
    services.notify(
        organization=organization,
        event_type="agent_offline",
        recipients=admins,
        context=context,
        dedupe_key=f"{membership.pk}:{changed}" if changed else None,
        metadata=_metadata(event),
    )


@listener("conversation.mentioned", phase=IN_TRANSACTION)
def on_mentioned(event: Event) -> None:
    """A teammate named in an internal note hears of it (with the note's first lines and a link)."""
    mentioned_id = event.payload.get("mentioned_id")
    if not mentioned_id or mentioned_id == event.payload.get("author_id"):
        return
    organization = _organization(event)
    if organization is None:
        return
    conversation_id = event.payload.get("conversation_id")
    context = _conversation_context(organization, conversation_id)
    members = {u.pk: u for u in _members(organization, user_ids=[mentioned_id, event.payload.get("author_id")])}
    if mentioned_id not in members:
        return
    author = members.get(event.payload.get("author_id"))
    context["author_name"] = author.get_full_name() if author else ""
    Message = _model("Message")
    note = (
        Message.objects.for_organization(organization).filter(pk=event.payload.get("message_id")).first()
        if Message is not None
        else None
    )
    context["note_excerpt"] = (note.body[:280] + ("…" if len(note.body) > 280 else "")) if note else ""
    services.notify(
        organization=organization,
        event_type="mention",
        recipients=[members[mentioned_id]],
        context=context,
        dedupe_key=f"{event.payload.get('message_id')}:{mentioned_id}",
        metadata=_metadata(event),
    )
