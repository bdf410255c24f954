"""Writes of the inbox that are not conversation actions: agent presence and read receipts.

Conversation actions (assign, reply, close, …) are ``conversations.services``; the inbox calls
them directly. Broadcasts wait for the commit like every other event.
"""

from __future__ import annotations

import datetime
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AgentStatus, Membership
from conversations.inbox import presence
from conversations.inbox.groups import conversation_group, inbox_group
from conversations.models import Message

logger = logging.getLogger(__name__)

HEARTBEAT_STATUSES = (AgentStatus.ONLINE, AgentStatus.AWAY)


def broadcast(group: str, message: dict) -> None:
    """Send ``message`` to a Channels group once the current transaction commits."""

    def send():
        try:
            async_to_sync(get_channel_layer().group_send)(group, message)
        except Exception:
            logger.exception("broadcast to %s failed", group)

    transaction.on_commit(send, robust=True)


def _set_status(membership: Membership, status: str) -> None:
    # The row as stored now (a consumer's copy may be old): going offline is dispatched once.
    fresh = Membership.objects.select_for_update().get(pk=membership.pk)
    if fresh.status != status:
        account_services.agent_set_status(membership=fresh, status=status)
    membership.status = status
    broadcast(
        inbox_group(membership.organization_id),
        {"type": "inbox.presence", "user_id": membership.user_id, "status": status},
    )


def presence_heartbeat(*, membership: Membership, connection: str, status: str) -> bool:
    """A live tab says the agent is ``online`` or ``away``; returns whether their presence changed."""
    if status not in HEARTBEAT_STATUSES:
        raise ValidationError("status must be online or away", code="status")
    previous = presence.heartbeat(
        organization_id=membership.organization_id, user_id=membership.user_id, connection=connection, status=status
    )
    if previous == status and membership.status == status:
        return False
    with transaction.atomic():
        _set_status(membership, status)
    return True


def presence_disconnect(*, membership: Membership, connection: str) -> bool:
    """A tab closed; the agent goes offline when it was their last one. Returns whether they did."""
    if not presence.disconnect(
        organization_id=membership.organization_id, user_id=membership.user_id, connection=connection
    ):
        return False
    with transaction.atomic():
        _set_status(membership, AgentStatus.OFFLINE)
    return True


def presence_sweep(*, now: datetime.datetime | None = None) -> int:
    """Mark offline the agents nobody vouches for any more; returns how many.

    Two kinds: agents whose every tab stopped sending heartbeats (a crashed process, a lost
    network), and agents set online or away without an inbox tab (the dashboard's status form)
    whose last sign of life is older than the heartbeat TTL — the same expiry as a socket's, so
    routing stops assigning to someone who is not there. Reads only present agents through the
    ``accounts_mem_present_seen`` partial index.
    """
    count = 0
    for organization_id, user_id in presence.expired():
        membership = Membership.objects.filter(organization_id=organization_id, user_id=user_id).first()
        if membership is None or membership.status == AgentStatus.OFFLINE:
            continue
        with transaction.atomic():
            _set_status(membership, AgentStatus.OFFLINE)
        count += 1
    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=presence.PRESENCE_TTL)
    stale = Membership.objects.exclude(status=AgentStatus.OFFLINE).filter(last_seen_at__lt=cutoff)
    for membership in stale.order_by("last_seen_at"):
        if presence.current(organization_id=membership.organization_id, user_id=membership.user_id) is not None:
            continue  # an inbox tab is beating for them
        with transaction.atomic():
            _set_status(membership, AgentStatus.OFFLINE)
        count += 1
    return count


def read_receipt(*, membership: Membership, conversation_id: int, message_id: int) -> bool:
    """The member has seen the conversation up to ``message_id``: store it and tell the others."""
    if not Message.objects.filter(
        organization_id=membership.organization_id, conversation_id=conversation_id, pk=message_id
    ).exists():
        raise ValidationError("no such message in this conversation", code="message")
    moved = presence.mark_read(
        organization_id=membership.organization_id,
        conversation_id=conversation_id,
        user_id=membership.user_id,
        message_id=message_id,
    )
    if moved:
        broadcast(
            conversation_group(membership.organization_id, conversation_id),
            {
                "type": "inbox.read",
                "conversation_id": conversation_id,
                "user_id": membership.user_id,
                "name": membership.user.get_short_name(),
                "message_id": message_id,
            },
        )
    return moved
