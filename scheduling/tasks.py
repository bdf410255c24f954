"""Thin Celery wrappers around ``scheduling.services`` (ids in, fresh state loaded there)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

REMINDERS_EVERY_SECONDS = 60

PERIODIC_TASKS = {
    "appointment reminders": {"task": "scheduling.tasks.send_reminders", "every": REMINDERS_EVERY_SECONDS},
    "client metrics: daily refresh": {"task": "scheduling.tasks.refresh_client_metrics", "cron": "15 3 * * *"},
}


@shared_task(ignore_result=True)
def refresh_client_metrics() -> int:
    """Recompute the time-dependent client metrics (upcoming, this/last month, frequency) once a day."""
    from scheduling import services

    return services.client_metrics_refresh_stale()


@shared_task(acks_late=True, ignore_result=True)
def send_reminders() -> int:
    """Raise the reminders that are due (the outbox delivers them). Safe to overlap."""
    from scheduling import services

    sent = services.reminders_send_due()
    if sent:
        logger.info("appointment reminders: %d raised", sent)
    return sent
