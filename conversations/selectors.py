"""Reads of the conversations app shared by views, tasks and commands; each takes the organization."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.search import SearchQuery
from django.db.models import Max, QuerySet
from django.db.models.functions import Reverse
from django.utils import timezone

from accounts.models import Organization
from conversations.models import (
    ACTIVE_STATUSES,
    Channel,
    ChannelKind,
    Contact,
    Conversation,
    Message,
    Tag,
    WhatsAppTemplate,
)


def channel_for_webhook(*, public_id: str) -> Channel | None:
    """The active WhatsApp channel a webhook URL names (the URL itself carries the tenant)."""
    try:
        key = uuid.UUID(str(public_id))
    except (ValueError, TypeError, AttributeError):
        return None
    return (
        Channel.objects.select_related("organization__messaging_settings", "default_queue")
        .filter(public_id=key, kind=ChannelKind.WHATSAPP, is_active=True, organization__is_active=True)
        .first()
    )


def channel_list(*, organization: Organization) -> QuerySet[Channel]:
    return Channel.objects.for_organization(organization).select_related("default_queue").order_by("name")


def contact_search_arms(contacts: QuerySet[Contact], q: str) -> list[QuerySet[Contact]]:
    """The contacts of ``contacts`` that a search for ``q`` finds, as separate querysets (one per index):
    names with words starting with its words, phones starting or ending with its digits (3 or more)."""
    arms = []
    words = re.findall(r"\w+", q.lower())
    if any(not word.isdigit() for word in words):  # digits alone are a phone, not a name
        # Words by prefix (as typed); numbers whole (a prefix of digits matches too many names).
        prefixes = " & ".join(word if word.isdigit() else f"{word}:*" for word in words)
        arms.append(contacts.filter(search_vector=SearchQuery(prefixes, config="simple", search_type="raw")))
    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) >= 3:
        arms.append(contacts.filter(phone__startswith=f"+{digits}"))
        arms.append(contacts.annotate(reversed_phone=Reverse("phone")).filter(reversed_phone__startswith=digits[::-1]))
    return arms


def contact_list(
    *, organization: Organization, q: str = "", tag_id: int | None = None, lifecycle_stage: str = "", opt_in: str = ""
) -> QuerySet[Contact]:
    """The organization's contacts, filtered: ``q`` as the inbox searches contacts (plus an exact email)."""
    contacts = Contact.objects.for_organization(organization).prefetch_related("tags")
    q = " ".join(q.split())
    if q:
        base = Contact.objects.filter(organization=organization)
        ids: set[int] = set()
        for arm in contact_search_arms(base, q):
            ids.update(arm.values_list("pk", flat=True)[:1000])
        if "@" in q:
            ids.update(base.filter(email=q.lower()).values_list("pk", flat=True)[:1000])
        contacts = contacts.filter(pk__in=sorted(ids))
    if tag_id:
        contacts = contacts.filter(tags__id=tag_id)
    if lifecycle_stage:
        contacts = contacts.filter(lifecycle_stage=lifecycle_stage)
    if opt_in:
        contacts = contacts.filter(opt_in=opt_in)
    return contacts


def tag_list(*, organization: Organization) -> QuerySet[Tag]:
    return Tag.objects.for_organization(organization).order_by("name", "id")


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


def conversation_idle_closed(*, organization: Organization, closed_before) -> QuerySet[Conversation]:
    """Closed conversations with no activity since ``closed_before``: the retention job's due rows,
    read through the partial index ``conv_closed_archive_due``, oldest first."""
    return (
        Conversation.objects.filter(organization=organization, status="closed", closed_at__lt=closed_before)
        .exclude(last_message_at__gte=closed_before)
        .order_by("closed_at", "id")
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


@dataclass(frozen=True)
class ServiceWindow:
    """WhatsApp's customer-service window: free-form messages only within 24 h of the customer's last
    message to this number; outside it only approved templates. ``applies`` is false for channels
    without such a window (the console channel)."""

    applies: bool
    is_open: bool
    last_inbound_at: dt.datetime | None = None
    closes_at: dt.datetime | None = None


def service_window(
    *,
    organization: Organization,
    contact: Contact,
    channel: Channel | None,
    conversation: Conversation | None = None,
    now: dt.datetime | None = None,
) -> ServiceWindow:
    """The window of ``contact`` on ``channel``; ``conversation`` (one of theirs on it) saves the query
    across their conversations when its own last customer message already keeps the window open."""
    if channel is None or channel.kind != ChannelKind.WHATSAPP:
        return ServiceWindow(applies=False, is_open=True)
    now = now or timezone.now()
    hours = dt.timedelta(hours=settings.WHATSAPP_SERVICE_WINDOW_HOURS)
    if conversation is not None and conversation.last_inbound_at and now < conversation.last_inbound_at + hours:
        return ServiceWindow(
            applies=True,
            is_open=True,
            last_inbound_at=conversation.last_inbound_at,
            closes_at=conversation.last_inbound_at + hours,
        )
    last = (
        Conversation.objects.for_organization(organization)
        .filter(contact=contact, channel=channel)
        .aggregate(last=Max("last_inbound_at"))["last"]
    )
    if last is None:
        return ServiceWindow(applies=True, is_open=False)
    closes_at = last + hours
    return ServiceWindow(applies=True, is_open=now < closes_at, last_inbound_at=last, closes_at=closes_at)


def template_list(
    *, organization: Organization, channel: Channel | None = None, status: str | None = None
) -> QuerySet[WhatsAppTemplate]:
    """The organization's WhatsApp templates, optionally of one channel and one status (e.g. ``approved``)."""
    templates = WhatsAppTemplate.objects.for_organization(organization).select_related("channel")
    if channel is not None:
        templates = templates.filter(channel=channel)
    if status is not None:
        templates = templates.filter(status=status)
    return templates.order_by("name", "language", "id")


def template_get(*, organization: Organization, template_id) -> WhatsAppTemplate | None:
    return (
        WhatsAppTemplate.objects.for_organization(organization).select_related("channel").filter(pk=template_id).first()
    )


def channels_for_template_sync() -> QuerySet[Channel]:
    """Every active WhatsApp channel, of any active organization, that names its business account (Beat's sync)."""
    return (
        Channel.objects.filter(kind=ChannelKind.WHATSAPP, is_active=True, organization__is_active=True)
        .exclude(business_account_id="")
        .order_by("pk")
    )
