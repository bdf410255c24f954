"""Thin Celery wrappers around ``notifications.services`` (ids in, fresh state loaded there)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

PERIODIC_TASKS = {
    "notifications relay and deferred release": {
        "task": "notifications.tasks.relay_notifications",
        "every": settings.NOTIFICATIONS_RELAY_EVERY_SECONDS,
    },
}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def deliver_notification(self, log_id: int) -> str:
    """Deliver one row. Safe when delivered twice: only the task that claims the row sends it."""
    from notifications import services

    outcome = services.notification_deliver(log_id=log_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(acks_late=True, ignore_result=True)
def relay_notifications() -> str:
    from notifications import services

    result = services.notification_relay()
    if result.released or result.requeued or result.reclaimed or result.failed:
        logger.info("notification relay: %s", result)
    return str(result)


def ensure_broker_queue() -> None:
    """Declare the task queue and its binding before publishing.

    A flushed or restarted Redis loses kombu's routing table; publishing would then fail with
    "no route". Declaring again is cheap and idempotent.
    """
    from pytake.celery import app

    queue = app.amqp.queues[app.conf.task_default_queue]
    with app.pool.acquire(block=True) as connection:
        queue(connection.default_channel).declare()
