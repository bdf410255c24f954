"""Snooze: a conversation sleeps out of the active list until a time or until the customer writes.

While it sleeps its SLA clock is paused: the sweep skips it, and waking shifts every target not yet
raised by the business time it slept (``conversations.business_hours``). Waking happens three ways,
each through ``conversation_wake``: the Beat job (``snooze_wake_due``, reading due rows through the
partial index ``conv_snooze_wake_due``), the customer's message (``inbound_message_receive``), or an
agent. Each snooze and wake leaves an audit row (the pane's SLA timeline reads them).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import User
from conversations import sla
from conversations.business_hours import add_business_time, business_time_between
from conversations.models import Conversation
from conversations.services.common import _emit, _locked

MAX_SNOOZE = dt.timedelta(days=90)
SLA_TARGETS = (
    ("first_response_warning_at", "first_response_warned_at"),
    ("first_response_due_at", "first_response_breached_at"),
    ("resolution_warning_at", "resolution_warned_at"),
    ("resolution_due_at", "resolution_breached_at"),
)
WAKE_REASONS = ("time", "customer", "agent")


@transaction.atomic
def conversation_snooze(*, conversation: Conversation, by: User, until: dt.datetime | None) -> Conversation:
    """Put an active conversation to sleep until ``until`` (aware), or until the customer writes (``None``)."""
    conversation = _locked(conversation)
    if not conversation.is_active:
        raise ValidationError(_("Only open or pending conversations can be snoozed."), code="not_active")
    now = timezone.now()
    if until is not None:
        if timezone.is_naive(until):
            raise ValidationError(_("Give the time with its time zone."), code="naive_time")
        if until <= now:
            raise ValidationError(_("Choose a time in the future to snooze until."), code="snooze_past")
        if until - now > MAX_SNOOZE:
            raise ValidationError(_("A conversation can be snoozed for at most 90 days."), code="snooze_too_long")
    previous = conversation.snoozed_until.isoformat() if conversation.snoozed_until else None
    if conversation.snoozed_at is None:
        conversation.snoozed_at = now  # re-snoozing keeps the start of the pause
    conversation.snoozed_until = until
    conversation.snoozed_by = by
    conversation.save(update_fields=["snoozed_at", "snoozed_until", "snoozed_by"])
    _emit(
        "conversation.snoozed",
        conversation.organization_id,
        conversation_id=conversation.pk,
        agent_id=conversation.agent_user_id,
        queue_id=conversation.queue_id,
        until=until.isoformat() if until else None,
        by_id=by.pk,
    )
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.snoozed",
        obj=conversation,
        changes={"snoozed_until": [previous, until.isoformat() if until else "customer_reply"]},
    )
    return conversation


def _shift_sla(conversation: Conversation, slept_from: dt.datetime, now: dt.datetime, schedules: dict) -> list[str]:
    """Move every SLA target not yet raised later by the business time the conversation slept."""
    schedule = schedules.get(conversation.organization_id)
    if schedule is None:
        schedule = schedules[conversation.organization_id] = sla.schedule_for(
            conversation.organization, since=slept_from.date() - dt.timedelta(days=MAX_SNOOZE.days)
        )
    paused = business_time_between(slept_from, now, schedule)
    changed = []
    if paused <= dt.timedelta(0):
        return changed
    for due_field, raised_field in SLA_TARGETS:
        due = getattr(conversation, due_field)
        if due is None or getattr(conversation, raised_field) is not None:
            continue
        if due_field.startswith("first_response") and conversation.first_response_at is not None:
            continue
        setattr(conversation, due_field, add_business_time(due, paused, schedule))
        changed.append(due_field)
    return changed


def _wake(
    conversation: Conversation, *, reason: str, by: User | None, now: dt.datetime, schedules: dict | None = None
) -> None:
    slept_from = conversation.snoozed_at
    shifted = _shift_sla(conversation, slept_from, now, {} if schedules is None else schedules)
    conversation.snoozed_at = conversation.snoozed_until = None
    conversation.snoozed_by = None
    conversation.save(update_fields=["snoozed_at", "snoozed_until", "snoozed_by", *shifted])
    _emit(
        "conversation.woken",
        conversation.organization_id,
        conversation_id=conversation.pk,
        agent_id=conversation.agent_user_id,
        queue_id=conversation.queue_id,
        reason=reason,
    )
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.woken",
        obj=conversation,
        changes={"snoozed_at": [slept_from.isoformat(), None]},
        metadata={"reason": reason},
    )


@transaction.atomic
def conversation_wake(*, conversation: Conversation, reason: str = "agent", by: User | None = None) -> Conversation:
    """Wake a snoozed conversation now (a no-op when it is awake): back in the list, SLA clock running."""
    if reason not in WAKE_REASONS:
        raise ValueError(f"unknown wake reason {reason!r}")
    conversation = _locked(conversation)
    if conversation.snoozed_at is not None:
        _wake(conversation, reason=reason, by=by, now=timezone.now())
    return conversation


def snooze_due(*, now: dt.datetime):
    """Sleeping conversations whose wake time has come, in wake order (the partial index ``conv_snooze_wake_due``)."""
    return Conversation.objects.filter(
        snoozed_at__isnull=False, snoozed_until__isnull=False, snoozed_until__lte=now
    ).order_by("snoozed_until")


def snooze_wake_due(*, now: dt.datetime | None = None, batch_size: int | None = None) -> int:
    """Wake every conversation whose snooze has run out (Beat, every minute); returns how many.

    Each batch locks due rows with ``SKIP LOCKED`` so overlapping runs split them; a row woken by
    the customer meanwhile is no longer due and is left alone.
    """
    now = now or timezone.now()
    batch_size = batch_size or getattr(settings, "SNOOZE_WAKE_BATCH_SIZE", 500)
    woken = 0
    schedules: dict = {}  # one business-hours read per organization per run
    while True:
        with transaction.atomic():
            rows = list(
                snooze_due(now=now)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("organization", "assignee")[:batch_size]
            )
            for conversation in rows:
                _wake(conversation, reason="time", by=None, now=now, schedules=schedules)
        woken += len(rows)
        if len(rows) < batch_size:
            return woken
