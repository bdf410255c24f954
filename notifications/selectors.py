"""Reads shared by views, the consumer, tasks and commands. Each takes the organization."""

from __future__ import annotations

import datetime

from django.db.models import Count, Q
from django.utils import timezone

from notifications.models import NotificationLog, NotificationPreference, OrganizationNotificationSettings, Status
from notifications.registry import Channel


def organization_settings_find(*, organization) -> OrganizationNotificationSettings | None:
    return OrganizationNotificationSettings.objects.for_organization(organization).first()


def preference_find(*, organization, user) -> NotificationPreference | None:
    return NotificationPreference.objects.for_organization(organization).filter(user=user).first()


def notification_center_list(*, organization, user, limit: int = 50) -> list[NotificationLog]:
    """The user's in-app notifications in ``organization``, newest first."""
    return list(
        notification_center_queryset(organization=organization, user=user).order_by("-created_at", "-id")[:limit]
    )


def notification_center_queryset(*, organization, user):
    """The user's in-app notifications in ``organization`` (not yet ordered or sliced)."""
    return (
        NotificationLog.objects.for_organization(organization)
        .filter(user=user, channel=Channel.IN_APP)
        .exclude(status__in=[Status.SKIPPED, Status.DEFERRED])
    )


def unread_count(*, organization_id: int, user_id: int) -> int:
    return (
        NotificationLog.objects.filter(
            organization_id=organization_id, user_id=user_id, channel=Channel.IN_APP, read_at__isnull=True
        )
        .exclude(status__in=[Status.SKIPPED, Status.DEFERRED])
        .count()
    )


def notification_stats(*, organization=None, since: datetime.datetime | None = None) -> dict:
    """Counts by status × channel and by event type, with retries, for ``organization`` (all if ``None``)."""
    queryset = (
        NotificationLog.objects.all()
        if organization is None
        else NotificationLog.objects.for_organization(organization)
    )
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    by_status_channel = {
        (row["status"], row["channel"]): row["n"]
        for row in queryset.values("status", "channel").annotate(n=Count("id")).order_by()
    }
    by_type = {row["event_type"]: row["n"] for row in queryset.values("event_type").annotate(n=Count("id")).order_by()}
    totals = queryset.aggregate(
        total=Count("id"),
        retried=Count("id", filter=Q(retry_count__gt=0)),
        failed=Count("id", filter=Q(status=Status.FAILED)),
        out=Count("id", filter=Q(status__in=[Status.SENT, Status.DELIVERED, Status.BOUNCED, Status.FAILED])),
        overdue=Count("id", filter=Q(status__in=[Status.PENDING, Status.DEFERRED], scheduled_at__lt=timezone.now())),
    )
    return {"by_status_channel": by_status_channel, "by_type": by_type, **totals}
