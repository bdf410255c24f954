"""Thin Celery wrappers around ``conversations.campaigns.services`` (ids in)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

PERIODIC_TASKS = {
    "campaigns: start scheduled, wake running": {
        "task": "conversations.campaigns.tasks.campaigns_tick",
        "every": getattr(settings, "CAMPAIGNS_TICK_EVERY_SECONDS", 5),
    },
}


@shared_task(acks_late=True, ignore_result=True)
def dispatch_campaign(campaign_id: int) -> str:
    """Hand the campaign's next batch to the outbox. Safe when run twice or concurrently (row lock)."""
    from conversations.campaigns import services

    result = services.campaign_dispatch(campaign_id=campaign_id)
    return f"handed over {result.handed_over}, skipped {result.skipped}, waiting for {result.waiting_for or '-'}"


@shared_task(acks_late=True, ignore_result=True)
def campaigns_tick() -> str:
    from conversations.campaigns import services

    result = services.campaigns_tick()
    return f"started {result.started}, woken {result.woken}"
