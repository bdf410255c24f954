"""Conversations: open, assign, route, pull, transfer, close, reopen, priority."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import Membership, Queue, User
from accounts.roles import ACTING_ROLES
from conversations import routing, sla
from conversations.models import (
    ACTIVE_STATUSES,
    AuthorType,
    Channel,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    Priority,
    Status,
)
from conversations.services.common import _acting, _emit, _locked, _same_org, clean_body


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
    previous = conversation.assignee_id
    _assign(conversation, membership, by=by, now=timezone.now())
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.assigned",
        obj=conversation,
        changes={"assignee": [previous, membership.pk]},
    )
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


PULL_SQL = """
UPDATE {conversation} SET assignee_id = %(membership)s, assigned_at = %(now)s
WHERE id = (
    SELECT waiting.id
    FROM (
        SELECT queue.id, queue.priority
        FROM {queue} queue JOIN {queue_agents} member ON member.queue_id = queue.id
        WHERE member.membership_id = %(membership)s AND queue.organization_id = %(organization)s AND queue.is_active
        ORDER BY queue.priority DESC, queue.id
    ) queues
    CROSS JOIN LATERAL (
        SELECT conversation.id FROM {conversation} conversation
        WHERE conversation.queue_id = queues.id AND conversation.status = %(open)s
          AND conversation.assignee_id IS NULL
        ORDER BY conversation.priority_rank DESC, conversation.created_at, conversation.id
        LIMIT 1 FOR UPDATE SKIP LOCKED
    ) waiting
    ORDER BY queues.priority DESC, queues.id
    LIMIT 1
)
RETURNING *
"""


@transaction.atomic
def conversation_pull_next(*, membership: Membership) -> Conversation | None:
    """Claim the next unassigned open conversation of the agent's queues, in one statement.

    Queues are tried from the highest queue priority down; within a queue the most urgent,
    then oldest conversation wins. The statement walks the agent's queues in that order and,
    per queue, takes the first row of the partial index ``conv_pull_unassigned`` it can lock
    (``FOR UPDATE SKIP LOCKED``), stopping at the first queue that has one — so one row is
    locked — and assigns it in the same ``UPDATE … RETURNING``: concurrent pulls each lock a
    different row and never wait on one another, so no conversation goes to two agents and
    none is skipped for good.
    """
    _acting(membership, membership.organization_id)
    sql = PULL_SQL.format(
        conversation=Conversation._meta.db_table,
        queue=Queue._meta.db_table,
        queue_agents=Queue.agents.through._meta.db_table,
    )
    params = {
        "membership": membership.pk,
        "organization": membership.organization_id,
        "now": timezone.now(),
        "open": Status.OPEN,
    }
    conversation = next(iter(Conversation.objects.raw(sql, params)), None)
    if conversation is None:
        return None
    conversation.assignee = membership
    _emit(
        "conversation.assigned",
        conversation.organization_id,
        conversation_id=conversation.pk,
        agent_id=membership.user_id,
        previous_agent_id=None,
        queue_id=conversation.queue_id,
        assigned_by_id=membership.user_id,
    )
    audit.record(
        organization=conversation.organization_id,
        actor=membership,
        action="conversation.assigned",
        obj=conversation,
        changes={"assignee": [None, membership.pk]},
        metadata={"via": "pull_next"},
    )
    return conversation


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
    summary: str = "",
) -> Conversation:
    """Move the conversation to another queue and/or agent, leaving a system message.

    ``summary`` (the handoff summary an agent wrote or had the AI assistant draft) goes into
    that system message, for the next agent.

    A move to a queue alone unassigns it and routes it by the new queue's strategy; SLA
    targets not yet breached are recomputed from the original start with the new queue's
    targets (a warning already raised is not raised again).
    """
    if len(summary) > 2000:
        raise ValidationError(_("The summary is too long (at most 2000 characters)."), code="summary_too_long")
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
    if summary.strip():
        text += "\n" + _("Summary: %(summary)s") % {"summary": clean_body(summary)}
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
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.transferred",
        obj=conversation,
        changes=audit.diff(
            {"queue": from_queue.pk if from_queue else None, "assignee": from_agent.pk if from_agent else None},
            {"queue": conversation.queue_id, "assignee": conversation.assignee_id},
        ),
        metadata={"reason": clean_body(reason)} if reason.strip() else None,
    )
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation, by: User | None = None) -> Conversation:
    conversation = _locked(conversation)
    if conversation.status in (Status.CLOSED, Status.ARCHIVED):
        raise ValidationError(_("The conversation is already closed."), code="already_closed")
    previous_status = conversation.status
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
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.closed",
        obj=conversation,
        changes={"status": [previous_status, Status.CLOSED]},
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
def conversation_archive_idle(*, organization, closed_before: dt.datetime, batch_size: int = 500) -> int:
    """Archive up to ``batch_size`` closed conversations idle since ``closed_before``; returns how many.

    The retention job's bulk form of ``conversation_archive``: due rows are locked with
    ``SKIP LOCKED`` (a conversation being reopened right now is left for the next run) and updated
    in one statement. Call it again until it returns less than ``batch_size``.
    """
    from conversations import selectors

    due = list(
        selectors.conversation_idle_closed(organization=organization, closed_before=closed_before)
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:batch_size]
    )
    if not due:
        return 0
    return Conversation.objects.filter(pk__in=due, status=Status.CLOSED).update(status=Status.ARCHIVED)


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
    previous_status = conversation.status
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
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.reopened",
        obj=conversation,
        changes={"status": [previous_status, Status.OPEN]},
    )
    return conversation


@transaction.atomic
def conversation_set_priority(*, conversation: Conversation, priority: str, by: User | None = None) -> Conversation:
    if priority not in Priority.values:
        raise ValidationError(_("Unknown priority: %(value)s") % {"value": priority}, code="priority")
    conversation = _locked(conversation)
    previous = conversation.priority
    conversation.priority = priority
    conversation.save(update_fields=["priority"])
    conversation.refresh_from_db(fields=["priority_rank"])
    if previous != priority:
        audit.record(
            organization=conversation.organization_id,
            actor=by,
            action="conversation.priority_changed",
            obj=conversation,
            changes={"priority": [previous, priority]},
        )
    return conversation
