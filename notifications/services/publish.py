"""Publishing delivery tasks once the transaction that wrote the rows commits."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def _enqueue_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: publish_deliveries(ids), robust=True)


def publish_deliveries(ids: list[int]) -> int:
    """Send one delivery task per row id; returns how many were published.

    A failure to publish (broker down) is logged, not raised: the rows stay ``pending`` and the
    relay publishes them again.
    """
    from notifications.tasks import deliver_notification, ensure_broker_queue

    published = 0
    try:
        ensure_broker_queue()
        for log_id in ids:
            deliver_notification.apply_async(args=[log_id])
            published += 1
    except Exception:
        logger.exception(
            "publishing %d notification deliveries failed after %d; the relay will retry them", len(ids), published
        )
    return published
