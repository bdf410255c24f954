"""The in-app notification center, resending, provider tracking and the test notification."""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Organization
from notifications import selectors
from notifications.adapters import user_group_name
from notifications.models import (
    NotificationLog,
    NotificationPreference,
    Status,
)
from notifications.registry import Channel
from notifications.services.notify import _address, notify
from notifications.services.publish import _enqueue_on_commit

logger = logging.getLogger(__name__)

HOUR = datetime.timedelta(hours=1)


# --- In-app center, resend, tracking ---------------------------------------------------------


def _push_unread_on_commit(*, organization_id: int, user_id: int) -> None:
    def push():
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        try:
            async_to_sync(get_channel_layer().group_send)(
                user_group_name(organization_id=organization_id, user_id=user_id),
                {
                    "type": "notification.unread",
                    "unread": selectors.unread_count(organization_id=organization_id, user_id=user_id),
                },
            )
        except Exception:
            logger.exception("pushing the unread count to user %s failed", user_id)

    transaction.on_commit(push, robust=True)


@transaction.atomic
def notification_mark_read(*, organization: Organization, user, log_id: int) -> bool:
    """Mark one of the user's in-app notifications read; ``False`` if it is not theirs."""
    updated = (
        NotificationLog.objects.for_organization(organization)
        .filter(pk=log_id, user=user, channel=Channel.IN_APP, read_at__isnull=True)
        .update(read_at=timezone.now())
    )
    exists = (
        updated
        or NotificationLog.objects.for_organization(organization)
        .filter(pk=log_id, user=user, channel=Channel.IN_APP)
        .exists()
    )
    if updated:
        _push_unread_on_commit(organization_id=organization.pk, user_id=user.pk)
    return bool(exists)


@transaction.atomic
def notification_mark_all_read(*, organization: Organization, user) -> int:
    updated = (
        NotificationLog.objects.for_organization(organization)
        .filter(user=user, channel=Channel.IN_APP, read_at__isnull=True)
        .update(read_at=timezone.now())
    )
    _push_unread_on_commit(organization_id=organization.pk, user_id=user.pk)
    return updated


RESENDABLE = (Status.FAILED, Status.BOUNCED, Status.SENT, Status.DELIVERED, Status.READ, Status.SKIPPED)


@transaction.atomic
def notification_resend(*, log: NotificationLog, by=None) -> NotificationLog | None:
    """Send the same notification again as a new row (the original stays as the audit trail).

    Rows still on their way (pending, deferred, sending) are not resent: ``None``. A skipped row
    is resent only if its recipient now has an address for the channel.
    """
    if log.status not in RESENDABLE:
        return None
    recipient = log.recipient
    if not recipient and log.user_id is not None:
        preference = NotificationPreference.objects.filter(
            organization_id=log.organization_id, user_id=log.user_id
        ).first()
        recipient = _address(
            user=log.user,
            channel=log.channel,
            preference=preference or NotificationPreference(),
            organization_id=log.organization_id,
        )
    if not recipient:
        return None
    now = timezone.now()
    copy = NotificationLog.objects.create(
        organization_id=log.organization_id,
        user_id=log.user_id,
        recipient_contact_id=log.recipient_contact_id,
        transport=log.transport,
        payload=log.payload,
        event_type=log.event_type,
        channel=log.channel,
        recipient=recipient,
        subject=log.subject,
        message=log.message,
        html=log.html,
        urgent=log.urgent,
        status=Status.PENDING,
        scheduled_at=now,
        enqueued_at=now,
        max_retries=log.max_retries,
        metadata={**log.metadata, "resent_from": log.pk, **({"resent_by": by.pk} if by is not None else {})},
        dedupe_key=f"resend:{log.pk}:{uuid.uuid4().hex}",
    )
    _enqueue_on_commit([copy.pk])
    if by is not None:
        audit.record(
            organization=log.organization_id,
            actor=by,
            action="notification.resent",
            obj=log,
            metadata={"new_log_id": copy.pk, "status": log.status},
        )
    return copy


def notification_retry_failed(
    *, organization: Organization | None = None, since: datetime.datetime | None = None, limit: int = 1000
) -> list[NotificationLog]:
    """Resend ``failed`` rows (each once: a row already resent is not resent again)."""
    queryset = NotificationLog.objects.filter(status=Status.FAILED)
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    already = NotificationLog.objects.filter(metadata__has_key="resent_from").values_list(
        "metadata__resent_from", flat=True
    )
    resent_ids = {int(v) for v in already if v is not None}
    copies = []
    for log in queryset.select_related("user").order_by("id")[:limit]:
        if log.pk in resent_ids:
            continue
        copy = notification_resend(log=log)
        if copy is not None:
            copies.append(copy)
    return copies


TRACKING_STATUS = {
    "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED,
    "rejected": Status.BOUNCED,
    "failed": Status.BOUNCED,
    "complained": Status.BOUNCED,
}


@transaction.atomic
def notification_tracking_update(
    *, provider_message_id: str, event_type: str, description: str = "", at: datetime.datetime | None = None
) -> int:
    """Apply an ESP tracking event (anymail ``tracking`` signal) to the rows it names; returns rows changed."""
    status = TRACKING_STATUS.get(event_type)
    if status is None or not provider_message_id:
        return 0
    at = at or timezone.now()
    rows = NotificationLog.objects.filter(
        channel=Channel.EMAIL, provider_message_id=provider_message_id, status__in=[Status.SENT, Status.DELIVERED]
    )
    if status == Status.DELIVERED:
        return rows.filter(status=Status.SENT).update(
            status=Status.DELIVERED, delivered_at=at, updated_at=timezone.now()
        )
    return rows.update(status=Status.BOUNCED, error=(description or event_type)[:2000], updated_at=timezone.now())


PROVIDER_STATUS = {"delivered": Status.DELIVERED, "read": Status.READ, "failed": Status.FAILED}
# A provider's statuses arrive out of order; a row never moves backwards.
_STATUS_RANK = {Status.SENT: 1, Status.DELIVERED: 2, Status.READ: 3}


@transaction.atomic
def outbox_provider_status(
    *, organization: Organization, provider_message_id: str, status: str, at=None, error: str = ""
) -> int:
    """Apply a messaging provider's delivery status (WhatsApp ``delivered``/``read``/``failed``) to the
    outbox rows it names, in ``organization`` only; returns the rows changed."""
    new = PROVIDER_STATUS.get(status)
    if new is None or not provider_message_id:
        return 0
    at = at or timezone.now()
    rows = list(
        NotificationLog.objects.for_organization(organization)
        .select_for_update()
        .filter(provider_message_id=provider_message_id, status__in=[Status.SENT, Status.DELIVERED, Status.READ])
    )
    changed = 0
    for row in rows:
        fields = ["status", "updated_at"]
        if new == Status.FAILED:
            if row.status == Status.READ:
                continue
            row.status, row.error = Status.FAILED, (error or "failed")[:2000]
            fields.append("error")
        elif _STATUS_RANK[new] > _STATUS_RANK.get(row.status, 0):
            row.status = new
            stamp = "delivered_at" if new == Status.DELIVERED else "read_at"
            setattr(row, stamp, at)
            fields.append(stamp)
            if new == Status.READ and row.delivered_at is None:
                row.delivered_at = at
                fields.append("delivered_at")
        else:
            continue
        row.save(update_fields=fields)
        changed += 1
    return changed


def notification_send_test(
    *, organization: Organization, user, channels: Iterable[str] = (Channel.EMAIL,)
) -> list[NotificationLog]:
    """The "send me a test" button and command: a ``test`` notification to ``user`` only."""
    return notify(
        organization=organization,
        event_type="test",
        recipients=[user],
        channels=list(channels),
        context={"requested_at": timezone.now()},
        metadata={"test": True},
    )
