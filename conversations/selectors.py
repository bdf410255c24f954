"""Reads of the conversations app shared by views, tasks and commands; each takes the organization."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from accounts.models import Organization
from conversations.models import ACTIVE_STATUSES, Channel, ChannelKind, Contact, Conversation, Message


def channel_for_webhook(*, public_id: str) -> Channel | None:
    """The active WhatsApp channel a webhook URL names (the URL itself carries the tenant)."""
    try:
        key = uuid.UUID(str(public_id))
    except (ValueError, TypeError, AttributeError):
        return None
    return (
        Channel.objects.select_related("organization", "default_queue")
        .filter(public_id=key, kind=ChannelKind.WHATSAPP, is_active=True, organization__is_active=True)
        .first()
    )


def channel_list(*, organization: Organization) -> QuerySet[Channel]:
    return Channel.objects.for_organization(organization).select_related("default_queue").order_by("name")


def contact_get(*, organization: Organization, contact_id) -> Contact | None:
    return Contact.objects.for_organization(organization).filter(pk=contact_id).first()


def conversation_get(*, organization: Organization, conversation_id) -> Conversation | None:
    return (
        Conversation.objects.for_organization(organization)
        .select_related("contact", "channel", "queue", "assignee__user")
        .filter(pk=conversation_id)
        .first()
    )


def conversation_active_exists(*, organization: Organization, contact: Contact, channel: Channel | None) -> bool:
    """Whether ``contact`` has an active conversation on ``channel``: a second one breaks the unique constraint."""
    if channel is None:
        return False  # the constraint treats conversations without a channel as distinct
    return (
        Conversation.objects.for_organization(organization)
        .filter(contact=contact, channel=channel, status__in=ACTIVE_STATUSES)
        .exists()
    )


def conversation_list(*, organization: Organization, active_only: bool = False) -> QuerySet[Conversation]:
    conversations = Conversation.objects.for_organization(organization).select_related(
        "contact", "queue", "assignee__user", "channel"
    )
    if active_only:
        conversations = conversations.filter(status__in=ACTIVE_STATUSES)
    return conversations


def message_list(*, organization: Organization, conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.for_organization(organization)
        .filter(conversation=conversation)
        .select_related("author")
        .order_by("created_at", "id")
    )


def message_with_attachment_get(*, organization: Organization, message_id) -> Message | None:
    return Message.objects.for_organization(organization).exclude(attachment="").filter(pk=message_id).first()
