"""Every write of the conversations app: contacts, conversations, routing, messages, SLA.

Each function is atomic, checks tenancy and input, and dispatches its domain events (see
``pytake/events.py`` for names and payloads); events reach listeners after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Queue, User
from accounts.roles import ACTING_ROLES
from conversations import routing, sla
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
    LifecycleStage,
    Message,
    MessageKind,
    OptIn,
    Priority,
    SlaKind,
    Status,
    Tag,
    normalize_phone,
)
from pytake.events import Event, dispatch

logger = logging.getLogger(__name__)


def _emit(name: str, organization_id: int, **payload) -> None:
    dispatch(Event(name, organization_id, payload))


def clean_body(text: str | None) -> str:
    """Message text as stored: no NUL characters, no surrounding blank lines, bounded length."""
    return (text or "").replace("\x00", "").strip()[:MESSAGE_BODY_MAX_LENGTH]


def _same_org(obj, organization_id: int, what: str) -> None:
    if obj is not None and obj.organization_id != organization_id:
        raise ValidationError(
            _("The %(what)s belongs to another organization.") % {"what": what}, code="wrong_organization"
        )


def _acting(membership: Membership, organization_id: int) -> None:
    _same_org(membership, organization_id, _("agent"))
    if membership.role not in ACTING_ROLES:
        raise ValidationError(_("Viewers can read conversations but not act on them."), code="viewer_cannot_act")


def _locked(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("queue", "assignee", "organization")
        .get(pk=conversation.pk)
    )


# --- Contacts and tags ---------------------------------------------------------------------


@transaction.atomic
def tag_create(*, organization: Organization, name: str, color: str = "#64748b") -> Tag:
    tag = Tag(organization=organization, name=name.strip(), color=color)
    tag.full_clean()
    tag.save()
    return tag


@transaction.atomic
def contact_create(
    *,
    organization: Organization,
    name: str = "",
    phone: str = "",
    email: str = "",
    tags: list[Tag] | tuple = (),
    lifecycle_stage: str = LifecycleStage.LEAD,
    opt_in: str = OptIn.UNKNOWN,
    lead_score: int = 0,
    custom_fields: dict | None = None,
    enforce_plan_limit: bool = True,
) -> Contact:
    """Create a contact; emits ``contact.created``.

    The plan's contact limit is enforced for contacts added by people (the organization row is
    locked so two additions cannot both pass it). Contacts created by an inbound message pass
    ``enforce_plan_limit=False``: a customer's message is never lost over a billing limit.
    """
    if enforce_plan_limit and organization.limits.contacts is not None:
        Organization.objects.select_for_update().get(pk=organization.pk)
        current = Contact.objects.for_organization(organization).count()
        if current >= organization.limits.contacts:
            raise ValidationError(
                _(
                    "The %(plan)s plan allows up to %(limit)d contacts and %(org)s has %(current)d. Upgrade the plan or remove contacts first."
                )
                % {
                    "plan": organization.get_plan_display(),
                    "limit": organization.limits.contacts,
                    "org": organization.name,
                    "current": current,
                },
                code="plan_limit_contacts",
            )
    contact = Contact(
        organization=organization,
        name=name.strip(),
        phone=normalize_phone(phone) if phone else "",
        email=email.strip().lower(),
        lifecycle_stage=lifecycle_stage,
        opt_in=opt_in,
        lead_score=lead_score,
        custom_fields=custom_fields or {},
        opt_in_changed_at=timezone.now() if opt_in != OptIn.UNKNOWN else None,
    )
    contact.full_clean()
    contact.save()
    for tag in tags:
        _same_org(tag, organization.pk, _("tag"))
    contact.tags.set(tags)
    _emit("contact.created", organization.pk, contact_id=contact.pk)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, **fields) -> Contact:
    """Change a contact's editable fields (name, phone, email, lifecycle_stage, lead_score, custom_fields, tags)."""
    editable = {"name", "phone", "email", "lifecycle_stage", "lead_score", "custom_fields", "tags"}
    unknown = set(fields) - editable
    if unknown:
        raise ValidationError(
            _("These contact fields cannot be changed here: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    tags = fields.pop("tags", None)
    if fields.get("phone"):
        fields["phone"] = normalize_phone(fields["phone"])
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.full_clean()
    contact.save()
    if tags is not None:
        for tag in tags:
            _same_org(tag, contact.organization_id, _("tag"))
        contact.tags.set(tags)
    return contact


@transaction.atomic
def contact_set_opt_in(*, contact: Contact, opt_in: str) -> Contact:
    if opt_in not in OptIn.values:
        raise ValidationError(_("Unknown consent value: %(value)s") % {"value": opt_in})
    contact.opt_in = opt_in
    contact.opt_in_changed_at = timezone.now()
    contact.save(update_fields=["opt_in", "opt_in_changed_at", "updated_at"])
    return contact


@transaction.atomic
def contact_set_blocked(*, contact: Contact, blocked: bool) -> Contact:
    contact.is_blocked = blocked
    contact.save(update_fields=["is_blocked", "updated_at"])
    return contact


def contact_get_or_create_by_phone(*, organization: Organization, phone: str, name: str = "") -> tuple[Contact, bool]:
    """The organization's contact with ``phone`` (E.164 after normalizing), created if new.

    Safe under concurrency: a concurrent creation of the same phone loses on the unique
    constraint inside a savepoint and reads the winner's row.
    """
    phone = normalize_phone(phone)
    existing = Contact.objects.for_organization(organization).filter(phone=phone).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return contact_create(organization=organization, phone=phone, name=name, enforce_plan_limit=False), True
    except (IntegrityError, ValidationError):
        existing = Contact.objects.for_organization(organization).filter(phone=phone).first()
        if existing is None:
            raise
        return existing, False


# --- Conversations -------------------------------------------------------------------------


def _apply_first_response_sla(conversation: Conversation, schedule) -> None:
    target = sla.first_response_target(conversation.queue, conversation.sla_started_at, schedule)
    conversation.first_response_due_at, conversation.first_response_warning_at = target.due_at, target.warning_at


def _apply_resolution_sla(conversation: Conversation, schedule, start: dt.datetime) -> None:
    target = sla.resolution_target(conversation.queue, start, schedule)
    conversation.resolution_due_at, conversation.resolution_warning_at = target.due_at, target.warning_at


@transaction.atomic
def conversation_open(
    *,
    contact: Contact,
    channel: Channel | None = None,
    queue: Queue | None = None,
    subject: str = "",
    priority: str = Priority.MEDIUM,
    auto_assign: bool = True,
) -> Conversation:
    """Open a conversation in ``queue`` (or the channel's default queue), set its SLA, route it."""
    organization = contact.organization
    _same_org(channel, organization.pk, _("channel"))
    queue = queue or (channel.default_queue if channel is not None else None)
    _same_org(queue, organization.pk, _("queue"))
    if priority not in Priority.values:
        raise ValidationError(_("Unknown priority: %(value)s") % {"value": priority}, code="priority")
    now = timezone.now()
    conversation = Conversation(
        organization=organization,
        contact=contact,
        channel=channel,
        queue=queue,
        subject=subject[:200],
        priority=priority,
        status=Status.OPEN,
        sla_started_at=now,
        last_message_at=now,
    )
    schedule = sla.schedule_for(organization, since=now.date())
    _apply_first_response_sla(conversation, schedule)
    _apply_resolution_sla(conversation, schedule, now)
    conversation.save()
    _emit(
        "conversation.created",
        organization.pk,
        conversation_id=conversation.pk,
        contact_id=contact.pk,
        queue_id=queue.pk if queue else None,
    )
    if (
        auto_assign
        and queue is not None
        and not contact.is_blocked
        and conversation_auto_assign(conversation=conversation)
    ):
        conversation.refresh_from_db(fields=["assignee", "assigned_at"])
    return conversation


def _assign(conversation: Conversation, membership: Membership | None, *, by: User | None, now: dt.datetime) -> None:
    previous_user_id = conversation.agent_user_id
    conversation.assignee = membership
    conversation.assigned_at = now if membership is not None else None
    conversation.save(update_fields=["assignee", "assigned_at"])
    if membership is not None:
        _emit(
            "conversation.assigned",
            conversation.organization_id,
            conversation_id=conversation.pk,
            agent_id=membership.user_id,
            previous_agent_id=previous_user_id,
            queue_id=conversation.queue_id,
            assigned_by_id=by.pk if by else None,
        )


@transaction.atomic
def conversation_assign(*, conversation: Conversation, membership: Membership, by: User | None = None) -> Conversation:
    """Give the conversation to ``membership`` (an org admin or agent of its organization)."""
    conversation = _locked(conversation)
    _acting(membership, conversation.organization_id)
    if not conversation.is_active:
        raise ValidationError(_("Reopen the conversation before assigning it."), code="not_active")
    if conversation.assignee_id == membership.pk:
        return conversation
    _assign(conversation, membership, by=by, now=timezone.now())
    return conversation


@transaction.atomic
def conversation_auto_assign(*, conversation: Conversation) -> Membership | None:
    """Assign by the queue's routing strategy; ``None`` when it is manual or nobody can take it."""
    conversation = _locked(conversation)
    if conversation.queue_id is None or conversation.assignee_id is not None or conversation.status != Status.OPEN:
        return None
    queue = Queue.objects.select_for_update().get(pk=conversation.queue_id)
    membership = routing.pick_agent(queue)
    if membership is not None:
        _assign(conversation, membership, by=None, now=timezone.now())
    return membership


@transaction.atomic
def conversation_pull_next(*, membership: Membership) -> Conversation | None:
    """Claim the next unassigned open conversation of the agent's queues.

    Queues are tried from the highest queue priority down; within a queue the most urgent,
    then oldest conversation wins. Each probe is one ordered scan of the partial index
    ``conv_pull_unassigned`` with ``FOR UPDATE SKIP LOCKED``: concurrent pulls each lock a
    different row and never wait on one another, so no conversation goes to two agents and
    none is skipped for good.
    """
    _acting(membership, membership.organization_id)
    queue_ids = (
        Queue.objects.filter(agents=membership, organization_id=membership.organization_id, is_active=True)
        .order_by("-priority", "pk")
        .values_list("pk", flat=True)
    )
    for queue_id in queue_ids:
        conversation = (
            Conversation.objects.filter(queue_id=queue_id, status=Status.OPEN, assignee__isnull=True)
            .order_by("-priority_rank", "created_at", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if conversation is not None:
            _assign(conversation, membership, by=membership.user, now=timezone.now())
            return conversation
    return None


def _system_message(conversation: Conversation, text: str) -> Message:
    now = timezone.now()
    return Message.objects.create(
        organization_id=conversation.organization_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        author_type=AuthorType.SYSTEM,
        kind=MessageKind.SYSTEM,
        body=clean_body(text),
        delivery_status=DeliveryStatus.SENT,
        sent_at=now,
    )


@transaction.atomic
def conversation_transfer(
    *,
    conversation: Conversation,
    by: User,
    to_queue: Queue | None = None,
    to_membership: Membership | None = None,
    reason: str = "",
) -> Conversation:
    """Move the conversation to another queue and/or agent, leaving a system message.

    A move to a queue alone unassigns it and routes it by the new queue's strategy; SLA
    targets not yet breached are recomputed from the original start with the new queue's
    targets (a warning already raised is not raised again).
    """
    conversation = _locked(conversation)
    if to_queue is None and to_membership is None:
        raise ValidationError(_("Choose a queue or an agent to transfer to."), code="transfer_target")
    if not conversation.is_active:
        raise ValidationError(_("Reopen the conversation before transferring it."), code="not_active")
    _same_org(to_queue, conversation.organization_id, _("queue"))
    if to_membership is not None:
        _acting(to_membership, conversation.organization_id)
    from_queue, from_agent = conversation.queue, conversation.assignee
    if (to_queue is None or to_queue.pk == conversation.queue_id) and (
        to_membership is None or to_membership.pk == conversation.assignee_id
    ):
        raise ValidationError(_("The conversation is already there."), code="transfer_noop")
    now = timezone.now()
    if to_queue is not None and to_queue.pk != conversation.queue_id:
        conversation.queue = to_queue
        schedule = sla.schedule_for(conversation.organization, since=conversation.sla_started_at.date())
        if conversation.first_response_at is None and conversation.first_response_breached_at is None:
            _apply_first_response_sla(conversation, schedule)
        if conversation.resolution_breached_at is None:
            _apply_resolution_sla(conversation, schedule, conversation.sla_started_at)
        conversation.save()
    names = {
        "from": f"{from_queue.name if from_queue else '—'} / {from_agent.user.get_full_name() if from_agent else _('unassigned')}",
        "to": f"{conversation.queue.name if conversation.queue else '—'} / "
        f"{to_membership.user.get_full_name() if to_membership else _('unassigned')}",
        "by": by.get_full_name(),
    }
    text = _("Transferred from %(from)s to %(to)s by %(by)s.") % names
    if reason.strip():
        text += " " + _("Reason: %(reason)s") % {"reason": clean_body(reason)}
    _system_message(conversation, text)
    _emit(
        "conversation.transferred",
        conversation.organization_id,
        conversation_id=conversation.pk,
        from_queue_id=from_queue.pk if from_queue else None,
        to_queue_id=conversation.queue_id,
        from_agent_id=from_agent.user_id if from_agent else None,
        to_agent_id=to_membership.user_id if to_membership else None,
        by_id=by.pk,
    )
    if to_membership is not None:
        _assign(conversation, to_membership, by=by, now=now)
    else:
        _assign(conversation, None, by=by, now=now)
        conversation_auto_assign(conversation=conversation)
        conversation.refresh_from_db()
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation, by: User | None = None) -> Conversation:
    conversation = _locked(conversation)
    if conversation.status in (Status.CLOSED, Status.ARCHIVED):
        raise ValidationError(_("The conversation is already closed."), code="already_closed")
    conversation.status = Status.CLOSED
    conversation.closed_at = timezone.now()
    conversation.closed_by = by
    conversation.save(update_fields=["status", "closed_at", "closed_by"])
    _emit(
        "conversation.closed",
        conversation.organization_id,
        conversation_id=conversation.pk,
        agent_id=conversation.agent_user_id,
        closed_by_id=by.pk if by else None,
    )
    return conversation


@transaction.atomic
def conversation_archive(*, conversation: Conversation) -> Conversation:
    conversation = _locked(conversation)
    if conversation.status != Status.CLOSED:
        raise ValidationError(_("Only closed conversations can be archived."), code="not_closed")
    conversation.status = Status.ARCHIVED
    conversation.save(update_fields=["status"])
    return conversation


@transaction.atomic
def conversation_set_pending(*, conversation: Conversation) -> Conversation:
    """Waiting on the customer: still active (SLA runs), not offered to pulling agents."""
    conversation = _locked(conversation)
    if conversation.status != Status.OPEN:
        raise ValidationError(_("Only open conversations can be set to pending."), code="not_open")
    conversation.status = Status.PENDING
    conversation.save(update_fields=["status"])
    return conversation


@transaction.atomic
def conversation_reopen(*, conversation: Conversation, by: User | None = None) -> Conversation:
    """Open a closed conversation again; the resolution due time restarts from now.

    A warning or breach already raised for this conversation is not raised a second time
    (each is raised at most once per conversation).
    """
    conversation = _locked(conversation)
    if conversation.is_active:
        raise ValidationError(_("The conversation is already open."), code="already_open")
    if (
        conversation.channel_id
        and Conversation.objects.filter(
            contact_id=conversation.contact_id, channel_id=conversation.channel_id, status__in=ACTIVE_STATUSES
        ).exists()
    ):
        raise ValidationError(_("This contact already has an open conversation on this channel."), code="other_active")
    now = timezone.now()
    conversation.status = Status.OPEN
    conversation.closed_at = None
    conversation.closed_by = None
    if conversation.assignee_id and conversation.assignee.role not in ACTING_ROLES:
        conversation.assignee = None
    schedule = sla.schedule_for(conversation.organization, since=now.date())
    _apply_resolution_sla(conversation, schedule, now)
    conversation.save()
    _emit(
        "conversation.reopened",
        conversation.organization_id,
        conversation_id=conversation.pk,
        by_id=by.pk if by else None,
    )
    return conversation


@transaction.atomic
def conversation_set_priority(*, conversation: Conversation, priority: str) -> Conversation:
    if priority not in Priority.values:
        raise ValidationError(_("Unknown priority: %(value)s") % {"value": priority}, code="priority")
    conversation = _locked(conversation)
    conversation.priority = priority
    conversation.save(update_fields=["priority"])
    conversation.refresh_from_db(fields=["priority_rank"])
    return conversation


# --- Messages ------------------------------------------------------------------------------


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
) -> InboundResult:
    """Store a customer's message: find or create the contact and its open conversation.

    A provider message id seen before returns the stored message (``created=False``): webhook
    retries and duplicate deliveries store one message.
    """
    organization = channel.organization
    existing = _existing_by_provider_id(organization.pk, provider_message_id)
    if existing is not None:
        return InboundResult(existing, False)
    if kind not in (MessageKind.TEXT, MessageKind.IMAGE, MessageKind.VIDEO, MessageKind.AUDIO, MessageKind.DOCUMENT):
        raise ValidationError(_("Unknown message kind: %(kind)s") % {"kind": kind}, code="kind")
    contact, _created = contact_get_or_create_by_phone(organization=organization, phone=phone, name=name)
    if name and not contact.name:
        contact.name = name[:150]
        contact.save(update_fields=["name", "updated_at"])
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .filter(contact=contact, channel=channel, status__in=ACTIVE_STATUSES)
        .first()
    )
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
                provider_message_id=provider_message_id[:128],
                provider_media_id=media_id[:128],
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
    updates = {"last_message_at": now, "last_inbound_at": now}
    if conversation.status == Status.PENDING:
        updates["status"] = Status.OPEN
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    Contact.objects.filter(pk=contact.pk).update(last_message_at=now)
    if media_id and channel.kind == ChannelKind.WHATSAPP:
        transaction.on_commit(lambda: _enqueue_media_fetch(message.pk))
    _emit(
        "message.received",
        organization.pk,
        conversation_id=conversation.pk,
        message_id=message.pk,
        contact_id=contact.pk,
    )
    return InboundResult(message, True)


def _author_check(conversation: Conversation, author: Membership) -> None:
    _acting(author, conversation.organization_id)


@transaction.atomic
def message_send(*, conversation: Conversation, author: Membership, body: str = "", attachment=None) -> Message:
    """An agent's reply: stored as queued, sent to the provider by a task after the commit.

    The first agent reply sets the conversation's first response time (stopping that SLA).
    ``attachment`` is an uploaded file (``name``, ``size``, ``content_type``).
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
    text = clean_body(body)
    kind = MessageKind.TEXT
    if attachment is not None:
        kind = validate_attachment(
            name=attachment.name, content_type=getattr(attachment, "content_type", ""), size=attachment.size
        )
    elif not text:
        raise ValidationError(_("Write a message or attach a file."), code="empty")
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
    updates = ["last_message_at"]
    conversation.last_message_at = now
    if conversation.first_response_at is None:
        conversation.first_response_at = now
        updates.append("first_response_at")
    conversation.save(update_fields=updates)
    transaction.on_commit(lambda: _enqueue_delivery(message.pk))
    _emit(
        "message.sent",
        conversation.organization_id,
        conversation_id=conversation.pk,
        message_id=message.pk,
        author_id=author.user_id,
    )
    return message


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
            return message
        message.attachment_name = name
        message.attachment_content_type = content_type
        message.attachment_size = len(content)
        message.attachment.save(name, ContentFile(content), save=False)
        message.save(update_fields=["attachment", "attachment_name", "attachment_content_type", "attachment_size"])
        return message


def _enqueue_delivery(message_id: int) -> None:
    from conversations.tasks import deliver_message

    deliver_message.delay(message_id)


@transaction.atomic
def note_add(*, conversation: Conversation, author: Membership, body: str) -> Message:
    """An internal note: visible to agents only, never sent to the customer.

    It emits ``message.sent`` too (listeners show it to other agents); the message's
    ``is_internal_note`` tells them apart.
    """
    _author_check(conversation, author)
    text = clean_body(body)
    if not text:
        raise ValidationError(_("Write the note first."), code="empty")
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
    _emit(
        "message.sent",
        conversation.organization_id,
        conversation_id=conversation.pk,
        message_id=message.pk,
        author_id=author.user_id,
    )
    return message


def message_deliver(*, message_id: int) -> Message | None:
    """Send a queued outbound message through its channel; safe to run twice.

    A message already sent (it has a provider id) or being sent by another worker (row
    locked) is left alone. Network retries happen in the client; a final failure marks the
    message ``failed`` with the error.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("conversation__contact", "conversation__channel")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.provider_message_id or message.delivery_status != DeliveryStatus.QUEUED:
            return message
        if (
            message.direction != Direction.OUTBOUND
            or message.is_internal_note
            or message.author_type == AuthorType.SYSTEM
        ):
            return message
        channel = message.conversation.channel
        contact = message.conversation.contact
        now = timezone.now()
        try:
            if channel is None or not channel.is_active:
                raise whatsapp.SendError(_("The conversation has no active channel to send through."), retryable=False)
            if not contact.phone:
                raise whatsapp.SendError(_("The contact has no phone number."), retryable=False)
            provider_id = _send_through(channel, message, contact.phone)
        except whatsapp.SendError as error:
            message.delivery_status = DeliveryStatus.FAILED
            message.failed_at = now
            message.error = str(error)[:2000]
            message.save(update_fields=["delivery_status", "failed_at", "error"])
            logger.warning("message %s failed: %s", message.pk, error)
            return message
        message.provider_message_id = provider_id
        message.delivery_status = DeliveryStatus.SENT
        message.sent_at = timezone.now()
        message.error = ""
        message.save(update_fields=["provider_message_id", "delivery_status", "sent_at", "error"])
        return message


def _send_through(channel: Channel, message: Message, phone: str) -> str:
    if channel.kind == ChannelKind.CONSOLE:
        logger.info(
            "[console channel %s] to %s: %s%s",
            channel.name,
            phone,
            message.body,
            f" [{message.attachment_name}]" if message.attachment_name else "",
        )
        return f"console-{uuid.uuid4().hex}"
    client = whatsapp.WhatsAppClient(phone_number_id=channel.phone_number_id, access_token=channel.access_token)
    if message.attachment:
        message.attachment.open("rb")
        try:
            content = message.attachment.read()
        finally:
            message.attachment.close()
        media_id = client.upload_media(
            content=content, filename=message.attachment_name, content_type=message.attachment_content_type
        )
        return client.send_media(
            to=phone, kind=message.kind, media_id=media_id, caption=message.body, filename=message.attachment_name
        )
    return client.send_text(to=phone, body=message.body)


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
    if message is None:
        return None
    at = at or timezone.now()
    fields = []
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
    return message


# --- SLA sweep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _SlaCheck:
    kind: str
    event: str
    due_field: str
    raised_field: str
    extra: Q


SLA_CHECKS = (
    _SlaCheck(
        SlaKind.FIRST_RESPONSE,
        "sla.warning",
        "first_response_warning_at",
        "first_response_warned_at",
        Q(first_response_at__isnull=True),
    ),
    _SlaCheck(
        SlaKind.FIRST_RESPONSE,
        "sla.breached",
        "first_response_due_at",
        "first_response_breached_at",
        Q(first_response_at__isnull=True),
    ),
    _SlaCheck(SlaKind.RESOLUTION, "sla.warning", "resolution_warning_at", "resolution_warned_at", Q()),
    _SlaCheck(SlaKind.RESOLUTION, "sla.breached", "resolution_due_at", "resolution_breached_at", Q()),
)


def sla_sweep(*, now: dt.datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Raise every SLA warning and breach that has fallen due, each exactly once.

    Each batch locks due rows with ``FOR UPDATE SKIP LOCKED`` (read through the partial
    indexes on the due columns), marks them raised and dispatches the events in one
    transaction: overlapping sweeps split the rows between them, and a rolled-back batch
    neither marks nor emits. Returns the number raised per ``<event>:<kind>``.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    raised: dict[str, int] = {}
    for check in SLA_CHECKS:
        key = f"{check.event}:{check.kind}"
        raised[key] = 0
        while True:
            count = _sla_sweep_batch(check, now, batch_size)
            raised[key] += count
            if count < batch_size:
                break
    return raised


@transaction.atomic
def _sla_sweep_batch(check: _SlaCheck, now: dt.datetime, batch_size: int) -> int:
    rows = list(
        Conversation.objects.filter(
            check.extra,
            **{
                f"{check.due_field}__lte": now,
                f"{check.due_field}__isnull": False,
                f"{check.raised_field}__isnull": True,
            },
            status__in=ACTIVE_STATUSES,
        )
        .order_by(check.due_field)
        .select_for_update(skip_locked=True, of=("self",))
        .values("pk", "organization_id", "assignee_id", "queue_id", "first_response_due_at", "resolution_due_at")[
            :batch_size
        ]
    )
    if not rows:
        return 0
    Conversation.objects.filter(pk__in=[row["pk"] for row in rows]).update(**{check.raised_field: now})
    agents = dict(
        Membership.objects.filter(pk__in={row["assignee_id"] for row in rows if row["assignee_id"]}).values_list(
            "pk", "user_id"
        )
    )
    due_column = "first_response_due_at" if check.kind == SlaKind.FIRST_RESPONSE else "resolution_due_at"
    for row in rows:
        due_at = row[due_column]
        _emit(
            check.event,
            row["organization_id"],
            conversation_id=row["pk"],
            kind=str(check.kind),
            agent_id=agents.get(row["assignee_id"]),
            queue_id=row["queue_id"],
            due_at=due_at.isoformat() if due_at else None,
        )
    return len(rows)
