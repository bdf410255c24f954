"""Thin Celery wrappers around ``scheduling.services`` (ids in, fresh state loaded there)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

REMINDERS_EVERY_SECONDS = 60

PERIODIC_TASKS = {
    "appointment reminders": {"task": "scheduling.tasks.send_reminders", "every": REMINDERS_EVERY_SECONDS},
}


@shared_task(acks_late=True, ignore_result=True)
def send_reminders() -> int:
    """Send the reminders that are due; relay customer emails whose task was lost. Safe to overlap."""
    from scheduling import services

    sent = services.reminders_send_due()
    relayed = services.customer_notifications_relay()
    if sent or relayed:
        logger.info("appointment reminders: %d sent, %d customer emails relayed", sent, relayed)
    return sent


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def deliver_customer_notification(self, notification_id: int) -> None:
    """Send one customer email. Safe when delivered twice: only the task that claims the row sends."""
    from scheduling import notifications

    retry_in = notifications.deliver(notification_id=notification_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
