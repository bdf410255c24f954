"""Messages: inbound from providers, agent replies and notes, delivery, provider statuses, media."""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.limits import usage_increment
from accounts.models import Membership, Organization
from conversations.attachments import ALLOWED_TYPES, MiB, sanitize_filename, validate_attachment
from conversations.channels import whatsapp
from conversations.models import (
    ACTIVE_STATUSES,
    DELIVERY_ORDER,
    MESSAGE_BODY_MAX_LENGTH,
    AuthorType,
    Channel,
    ChannelKind,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    OptIn,
    Status,
)
from conversations.selectors import service_window
from conversations.services.common import _acting, _emit, _locked, clean_body, clean_text, refuse_over_limit
from conversations.services.consent import consent_keyword_apply
from conversations.services.contacts import contact_get_or_create_by_phone, shorten_contact_name
from conversations.services.conversations import conversation_open
from conversations.services.csat import csat_answer_record, csat_survey_for_inbound
from conversations.services.mentions import mentions_record
from conversations.services.snooze import conversation_wake
from notifications import services as notification_services
from notifications.registry import Channel as NotificationChannel

logger = logging.getLogger(__name__)

INBOUND_KINDS = (
    MessageKind.TEXT,
    MessageKind.IMAGE,
    MessageKind.VIDEO,
    MessageKind.AUDIO,
    MessageKind.DOCUMENT,
    MessageKind.STICKER,
    MessageKind.LOCATION,
)


@dataclass(frozen=True)
class InboundResult:
    message: Message
    created: bool


def _existing_by_provider_id(organization_id: int, provider_message_id: str) -> Message | None:
    if not provider_message_id:
        return None
    return Message.objects.filter(organization_id=organization_id, provider_message_id=provider_message_id).first()


@transaction.atomic
def inbound_message_receive(
    *,
    channel: Channel,
    phone: str,
    body: str = "",
    kind: str = MessageKind.TEXT,
    name: str = "",
    provider_message_id: str = "",
    media_id: str = "",
    content_type: str = "",
    filename: str = "",
    sent_at: dt.datetime | None = None,
    reply_payload: str = "",
    context_message_id: str = "",
    location: dict | None = None,
) -> InboundResult:
    """Store a customer's message: find or create the contact and its open conversation.

    A provider message id seen before returns the stored message (``created=False``): webhook
    retries and duplicate deliveries store one message. ``reply_payload`` is the payload of a tapped
    quick-reply button (``context_message_id``: the message it answers); it travels in the
    ``message.received`` event for the app that put it on the button. A plain text message that is
    a consent keyword opts the contact out or in (``services/consent.py``).
    """
    organization = channel.organization
    existing = _existing_by_provider_id(organization.pk, provider_message_id)
    if existing is not None:
        return InboundResult(existing, False)
    if kind not in INBOUND_KINDS:
        raise ValidationError(_("Unknown message kind: %(kind)s") % {"kind": kind}, code="kind")
    contact, _created = contact_get_or_create_by_phone(organization=organization, phone=phone, name=name)
    if name and not contact.name:
        contact.name = shorten_contact_name(name)
        contact.save(update_fields=["name", "updated_at"])
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(contact=contact, channel=channel, status__in=ACTIVE_STATUSES)
        .first()
    )
    survey = None
    if conversation is None:
        # An answer to the satisfaction survey of a closed conversation joins that conversation.
        survey = csat_survey_for_inbound(
            contact=contact, channel=channel, kind=kind, body=body, reply_payload=reply_payload, now=timezone.now()
        )
        if survey is not None:
            conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=survey.conversation_id)
    if conversation is None:
        try:
            with transaction.atomic():
                conversation = conversation_open(contact=contact, channel=channel)
        except IntegrityError:
            conversation = Conversation.objects.select_for_update(of=("self",)).get(
                contact=contact, channel=channel, status__in=ACTIVE_STATUSES
            )
    now = timezone.now()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                organization=organization,
                conversation=conversation,
                direction=Direction.INBOUND,
                author_type=AuthorType.CONTACT,
                kind=kind,
                body=clean_body(body),
                provider_message_id=provider_message_id,
                provider_media_id=media_id,
                location=(location or {}) if kind == MessageKind.LOCATION else {},
                attachment_content_type=content_type[:100],
                attachment_name=sanitize_filename(filename) if filename else "",
                delivery_status=DeliveryStatus.DELIVERED,
                sent_at=sent_at or now,
                delivered_at=now,
            )
    except IntegrityError:
        existing = _existing_by_provider_id(organization.pk, provider_message_id)
        if existing is None:
            raise
        return InboundResult(existing, False)
    usage_increment(organization=organization, field="messages_received")
    updates = {"last_message_at": now, "last_inbound_at": now}
    if conversation.status == Status.PENDING:
        updates["status"] = Status.OPEN
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    Contact.objects.filter(pk=contact.pk).update(last_message_at=now)
    if conversation.snoozed_at is not None:  # the customer wrote: it wakes now, whatever it waited for
        conversation_wake(conversation=conversation, reason="customer")
    if media_id and channel.kind == ChannelKind.WHATSAPP:
        transaction.on_commit(lambda: _enqueue_media_fetch(message.pk))
    conversation.last_inbound_at = now
    if survey is not None:
        survey.conversation = conversation
        csat_answer_record(survey=survey, message=message, reply_payload=reply_payload)
    elif not reply_payload:
        consent_keyword_apply(organization=organization, contact=contact, conversation=conversation, message=message)
    extra = (
        {"reply_payload": reply_payload[:256], "context_message_id": context_message_id[:256]} if reply_payload else {}
    )
    _emit(
        "message.received",
        organization.pk,
        conversation_id=conversation.pk,
        message_id=message.pk,
        contact_id=contact.pk,
        **extra,
    )
    return InboundResult(message, True)


def _require_open_window(conversation: Conversation, contact: Contact) -> None:
    """Free-form messages only inside WhatsApp's 24-hour customer-service window."""
    window = service_window(
        organization=conversation.organization, contact=contact, channel=conversation.channel, conversation=conversation
    )
    if window.is_open:
        return
    if window.closes_at is None:
        raise ValidationError(
            _("This customer has not written to this number yet: start the conversation with an approved template."),
            code="window_closed",
        )
    raise ValidationError(
        _(
            "The 24-hour window to answer freely closed at %(time)s (24 hours after the customer's last "
            "message). Send an approved template instead."
        )
        % {"time": formats.date_format(timezone.localtime(window.closes_at), "DATETIME_FORMAT")},
        code="window_closed",
    )


@transaction.atomic
def message_send_automatic(*, conversation: Conversation, body: str, reason: str = "") -> Message:
    """PyTake's own answer to the customer in a conversation (a consent confirmation, an appointment
    confirmed from a button): authored by the system, delivered through the outbox like a reply.

    Transactional answers to the customer's own message: sent even to a contact who just opted out
    (the confirmation of that opt-out), never to a blocked contact, only inside the window.
    """
    contact = conversation.contact
    if contact.is_blocked:
        raise ValidationError(_("This contact is blocked."), code="contact_blocked")
    _require_open_window(conversation, contact)
    text = clean_body(body)
    if not text:
        raise ValidationError(_("Write a message or attach a file."), code="empty")
    usage_increment(organization=conversation.organization, field="messages_sent")
    now = timezone.now()
    message = Message.objects.create(
        organization_id=conversation.organization_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        author_type=AuthorType.SYSTEM,
        kind=MessageKind.TEXT,
        body=text,
        delivery_status=DeliveryStatus.QUEUED,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
    _queue_delivery(message, contact=contact)
    _emit(
        "message.sent",
        conversation.organization_id,
        conversation_id=conversation.pk,
        message_id=message.pk,
        author_id=None,
        automatic=reason or True,
    )
    return message


def _author_check(conversation: Conversation, author: Membership) -> None:
    _acting(author, conversation.organization_id)


@transaction.atomic
def message_send(*, conversation: Conversation, author: Membership, body: str = "", attachment=None) -> Message:
    """An agent's reply: stored as queued, sent to the provider by a task after the commit.

    The first agent reply sets the conversation's first response time (stopping that SLA).
    ``attachment`` is an uploaded file (``name``, ``size``, ``content_type``). A text longer than
    the channel takes is refused with the limit; a reply over the plan's ``messages_per_month`` is
    refused too, and every reply counts in the month's ``messages_sent`` (one upsert that checks
    and counts, ``accounts.limits.usage_increment``).
    """
    conversation = _locked(conversation)
    _author_check(conversation, author)
    if not conversation.is_active:
        raise ValidationError(_("Reopen the conversation before replying."), code="not_active")
    contact = conversation.contact
    if contact.is_blocked:
        raise ValidationError(_("This contact is blocked; unblock them to reply."), code="contact_blocked")
    if contact.opt_in == OptIn.OPTED_OUT:
        raise ValidationError(_("This contact opted out of messages."), code="contact_opted_out")
    _require_open_window(conversation, contact)
    text = with_signature(clean_text(body), author.user)
    channel = conversation.channel
    if channel is not None:
        refuse_over_limit(text, limit=channel.text_limit, channel_name=channel.get_kind_display())
    else:
        refuse_over_limit(text, limit=MESSAGE_BODY_MAX_LENGTH, channel_name=_("this channel"))
    kind = MessageKind.TEXT
    if attachment is not None:
        kind = validate_attachment(
            name=attachment.name, content_type=getattr(attachment, "content_type", ""), size=attachment.size
        )
    elif not text:
        raise ValidationError(_("Write a message or attach a file."), code="empty")
    usage_increment(organization=conversation.organization, field="messages_sent", enforce_limit=True)
    now = timezone.now()
    message = Message(
        organization_id=conversation.organization_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        author_type=AuthorType.AGENT,
        author=author.user,
        kind=kind,
        body=text,
        delivery_status=DeliveryStatus.QUEUED,
    )
    if attachment is not None:
        message.attachment_name = sanitize_filename(attachment.name)
        message.attachment_content_type = attachment.content_type.split(";")[0].strip().lower()
        message.attachment_size = attachment.size
        message.attachment.save(message.attachment_name, attachment, save=False)
    message.save()
    _agent_message_out(conversation, message, author=author, now=now)
    return message


def with_signature(text: str, user) -> str:
    """``text`` with the agent's signature (their profile's) on its own lines; nothing is added to an empty text."""
    signature = clean_text(getattr(user, "signature", ""))
    if not text or not signature:
        return text
    return f"{text}\n\n{signature}"


def _agent_message_out(conversation: Conversation, message: Message, *, author: Membership, now) -> None:
    """An agent's stored outbound message goes out: the conversation's times move (the first agent
    message stops the first-response clock), its outbox row is written, ``message.sent`` is dispatched."""
    updates = ["last_message_at"]
    conversation.last_message_at = now
    first_response = conversation.first_response_at is None
    if first_response:
        conversation.first_response_at = now
        updates.append("first_response_at")
    conversation.save(update_fields=updates)
    _queue_delivery(message, contact=conversation.contact)
    _emit(
        "message.sent",
        conversation.organization_id,
        conversation_id=conversation.pk,
        message_id=message.pk,
        author_id=author.user_id,
        **({"first_response": True} if first_response else {}),
    )


def _enqueue_media_fetch(message_id: int) -> None:
    from conversations.tasks import fetch_inbound_media

    fetch_inbound_media.delay(message_id)


def message_fetch_media(*, message_id: int) -> Message | None:
    """Download an inbound message's media from the provider into its attachment; safe to run twice.

    Files over the size limit of their kind or of a type that cannot be stored are refused and
    the reason is kept in the message's ``error``; the message itself (and its caption) stays.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("conversation__channel")
            .filter(pk=message_id, direction=Direction.INBOUND)
            .first()
        )
        if message is None or message.attachment or not message.provider_media_id:
            return message
        channel = message.conversation.channel
        if channel is None or channel.kind != ChannelKind.WHATSAPP:
            return message
        client = whatsapp.WhatsAppClient(phone_number_id=channel.phone_number_id, access_token=channel.access_token)
        limit = ALLOWED_TYPES.get(message.kind, (None, 100 * MiB))[1]
        try:
            content, content_type = client.download_media(media_id=message.provider_media_id, max_bytes=limit)
            content_type = content_type.split(";")[0].strip().lower() or message.attachment_content_type
            extension = mimetypes.guess_extension(content_type) or ""
            name = message.attachment_name or sanitize_filename(
                f"{message.kind}-{message.provider_media_id}{extension}"
            )
            validate_attachment(name=name, content_type=content_type, size=len(content))
        except (whatsapp.SendError, ValidationError) as error:
            reason = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            message.error = _("Media not stored: %(reason)s") % {"reason": reason}
            message.save(update_fields=["error"])
            logger.warning("media of message %s not stored: %s", message.pk, reason)
            _emit_updated(message)
            return message
        message.attachment_name = name
        message.attachment_content_type = content_type
        message.attachment_size = len(content)
        message.attachment.save(name, ContentFile(content), save=False)
        message.save(update_fields=["attachment", "attachment_name", "attachment_content_type", "attachment_size"])
        _emit_updated(message)
        return message


def _emit_updated(message: Message) -> None:
    """``message.updated``: the tabs showing the message render it again (its media arrived or failed)."""
    _emit("message.updated", message.organization_id, conversation_id=message.conversation_id, message_id=message.pk)


def _queue_delivery(message: Message, *, contact: Contact, event_type: str = "conversation_message") -> None:
    """The message's outbox row, written in the same transaction: sent by ``conversations.transports``."""
    notification_services.outbox_enqueue(
        organization=message.conversation.organization,
        event_type=event_type,
        channel=NotificationChannel.WHATSAPP,
        recipient=contact.phone,
        contact_id=contact.pk,
        transport="conversations.message",
        payload={"message_id": message.pk},
        message=message.body,
        metadata={"conversation_id": message.conversation_id, "message_id": message.pk, "contact_id": contact.pk},
        dedupe_key=f"message:{message.pk}",
    )


@transaction.atomic
def note_add(*, conversation: Conversation, author: Membership, body: str) -> Message:
    """An internal note: visible to agents only, never sent to the customer.

    It emits ``message.sent`` too (listeners show it to other agents); the message's
    ``is_internal_note`` tells them apart.
    """
    _author_check(conversation, author)
    text = clean_text(body)
    if not text:
        raise ValidationError(_("Write the note first."), code="empty")
    refuse_over_limit(text, limit=MESSAGE_BODY_MAX_LENGTH)
    now = timezone.now()
    message = Message.objects.create(
        organization_id=conversation.organization_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        author_type=AuthorType.AGENT,
        author=author.user,
        kind=MessageKind.TEXT,
        body=text,
        is_internal_note=True,
        delivery_status=DeliveryStatus.SENT,
        sent_at=now,
    )
    mentions_record(note=message, author=author)
    _emit(
        "message.sent",
        conversation.organization_id,
        conversation_id=conversation.pk,
        message_id=message.pk,
        author_id=author.user_id,
    )
    return message


_STATUS_TIMESTAMP = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.FAILED: "failed_at",
}


@transaction.atomic
def message_status_update(
    *, organization: Organization, provider_message_id: str, status: str, at: dt.datetime | None = None, error: str = ""
) -> Message | None:
    """Apply a provider's delivery status; statuses arriving late never move a message backwards."""
    if status not in _STATUS_TIMESTAMP:
        raise ValidationError(_("Unknown delivery status: %(status)s") % {"status": status}, code="status")
    message = (
        Message.objects.select_for_update()
        .filter(organization=organization, provider_message_id=provider_message_id, direction=Direction.OUTBOUND)
        .first()
    )
    # The outbox row of the same provider message (agent replies, templates, appointment messages).
    notification_services.outbox_provider_status(
        organization=organization, provider_message_id=provider_message_id, status=status, at=at, error=error
    )
    if message is None:
        return None
    at = at or timezone.now()
    fields = []
    previous_status = message.delivery_status
    stamp = _STATUS_TIMESTAMP[status]
    if getattr(message, stamp) is None:
        setattr(message, stamp, at)
        fields.append(stamp)
    if status == DeliveryStatus.FAILED:
        if message.delivery_status != DeliveryStatus.READ:
            message.delivery_status = DeliveryStatus.FAILED
            message.error = error[:2000] or message.error
            fields += ["delivery_status", "error"]
    elif message.delivery_status == DeliveryStatus.FAILED or DELIVERY_ORDER[status] > DELIVERY_ORDER.get(
        message.delivery_status, 0
    ):
        message.delivery_status = status
        fields.append("delivery_status")
    if fields:
        message.save(update_fields=fields)
    if message.delivery_status != previous_status:
        _emit(
            "message.status_changed",
            organization.pk,
            conversation_id=message.conversation_id,
            message_id=message.pk,
            previous_status=previous_status,
            status=message.delivery_status,
        )
    return message
