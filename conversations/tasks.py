"""Celery tasks of the conversations app: thin wrappers that call a service by id."""

from celery import shared_task

from conversations import services

PERIODIC_TASKS = {
    "conversations: SLA sweep": {"task": "conversations.tasks.sla_sweep", "every": 60},
}


@shared_task(ignore_result=True)
def deliver_message(message_id: int) -> None:
    """Send a queued outbound message; a message already sent is left alone."""
    services.message_deliver(message_id=message_id)


@shared_task(ignore_result=True)
def fetch_inbound_media(message_id: int) -> None:
    """Download the media of an inbound WhatsApp message; a message with its file already is left alone."""
    services.message_fetch_media(message_id=message_id)


@shared_task(ignore_result=True)
def sla_sweep() -> dict:
    """Raise the SLA warnings and breaches that have fallen due (Beat runs it every minute)."""
    return services.sla_sweep()


PERIODIC_TASKS["conversations: inbox presence sweep"] = {"task": "conversations.tasks.presence_sweep", "every": 30}


@shared_task(ignore_result=True)
def presence_sweep() -> int:
    """Mark offline the agents whose inbox tabs all stopped sending heartbeats (Beat, every 30 s)."""
    from conversations.inbox import services as inbox_services

    return inbox_services.presence_sweep()


PERIODIC_TASKS["conversations: webhook delivery relay"] = {
    "task": "conversations.tasks.webhook_deliveries_relay",
    "every": 60,
}


@shared_task(ignore_result=True)
def webhook_deliveries_relay() -> int:
    """Apply stored WhatsApp deliveries that were never processed (Beat, every minute)."""
    return services.webhook_deliveries_relay()


@shared_task(ignore_result=True)
def process_webhook_delivery(delivery_id: int) -> None:
    """Apply a stored WhatsApp delivery; one already applied (or being applied) is left alone."""
    services.webhook_delivery_process(delivery_id=delivery_id)
