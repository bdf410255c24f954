"""Retention step of the notifications app: purge finished outbox rows older than the organization's period.

Only rows that are done with (sent, delivered, failed, bounced, not sent …) are deleted: a row
still pending, deferred or being sent is never purged, whatever its age.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from django.db import transaction

from accounts.retention import batches
from notifications.models import NotificationLog, Status

UNFINISHED_STATUSES = (Status.PENDING, Status.DEFERRED, Status.SENDING)


def _purgeable(organization, older_than: datetime.datetime):
    return (
        NotificationLog.objects.for_organization(organization)
        .filter(created_at__lt=older_than)
        .exclude(status__in=UNFINISHED_STATUSES)
    )


@transaction.atomic
def notification_log_purge(*, organization, older_than: datetime.datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` finished outbox rows of ``organization`` created before ``older_than``."""
    ids = list(_purgeable(organization, older_than).order_by("created_at").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0
    _total, by_model = NotificationLog.objects.filter(pk__in=ids).exclude(status__in=UNFINISHED_STATUSES).delete()
    return by_model.get(NotificationLog._meta.label, 0)


def _purge_outbox(*, organization, now, batch_size, dry_run) -> Iterator[int]:
    older_than = now - datetime.timedelta(days=organization.outbox_retention_days)
    if dry_run:
        yield _purgeable(organization, older_than).count()
        return
    yield from batches(
        lambda: notification_log_purge(organization=organization, older_than=older_than, batch_size=batch_size),
        batch_size,
    )


RETENTION_STEPS = [("notification log rows purged", _purge_outbox)]
