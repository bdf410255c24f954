"""Celery tasks of the conversations app: thin wrappers that call a service by id."""

import logging
from dataclasses import asdict

from celery import shared_task
from django.core.exceptions import ValidationError

from conversations import services

logger = logging.getLogger(__name__)

PERIODIC_TASKS = {
    "conversations: SLA sweep": {"task": "conversations.tasks.sla_sweep", "every": 60},
}


@shared_task(ignore_result=True)
def fetch_inbound_media(message_id: int) -> None:
    """Download the media of an inbound WhatsApp message; a message with its file already is left alone."""
    services.message_fetch_media(message_id=message_id)


@shared_task(ignore_result=True)
def sla_sweep() -> dict:
    """Raise the SLA warnings and breaches that have fallen due (Beat runs it every minute)."""
    return services.sla_sweep()


PERIODIC_TASKS["conversations: snooze wake-up"] = {"task": "conversations.tasks.snooze_wake_due", "every": 60}


@shared_task(ignore_result=True)
def snooze_wake_due() -> int:
    """Wake the snoozed conversations whose time has come (Beat, every minute)."""
    return services.snooze_wake_due()


PERIODIC_TASKS["conversations: inbox presence sweep"] = {"task": "conversations.tasks.presence_sweep", "every": 30}


@shared_task(ignore_result=True)
def presence_sweep() -> int:
    """Mark offline the agents whose inbox tabs all stopped sending heartbeats (Beat, every 30 s)."""
    from conversations.inbox import services as inbox_services

    return inbox_services.presence_sweep()


PERIODIC_TASKS["conversations: WhatsApp template sync"] = {
    "task": "conversations.tasks.sync_whatsapp_templates",
    "every": 3600,
}
PERIODIC_TASKS["conversations: webhook delivery relay"] = {
    "task": "conversations.tasks.webhook_deliveries_relay",
    "every": 60,
}


@shared_task(ignore_result=True)
def sync_whatsapp_templates() -> int:
    """Queue a template sync per WhatsApp channel with a business account id (Beat, hourly)."""
    from conversations import selectors

    channel_ids = list(selectors.channels_for_template_sync().values_list("pk", flat=True))
    for channel_id in channel_ids:
        sync_channel_templates.delay(channel_id)
    return len(channel_ids)


@shared_task(ignore_result=True)
def sync_channel_templates(channel_id: int) -> dict | None:
    """Sync one channel's templates from Meta; a refusal is logged (the next hour tries again)."""
    from conversations import selectors

    channel = selectors.channels_for_template_sync().filter(pk=channel_id).select_related("organization").first()
    if channel is None:
        return None
    try:
        return asdict(services.template_sync(channel=channel))
    except ValidationError as error:
        logger.warning("template sync of channel %s failed: %s", channel_id, " ".join(error.messages))
        return None


@shared_task(ignore_result=True)
def webhook_deliveries_relay() -> int:
    """Apply stored WhatsApp deliveries that were never processed (Beat, every minute)."""
    return services.webhook_deliveries_relay()


@shared_task(ignore_result=True)
def process_webhook_delivery(delivery_id: int) -> None:
    """Apply a stored WhatsApp delivery; one already applied (or being applied) is left alone."""
    services.webhook_delivery_process(delivery_id=delivery_id)
