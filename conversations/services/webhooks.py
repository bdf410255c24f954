"""Stored WhatsApp webhook deliveries: store once, process once, never lose one.

The webhook view stores the signed body (``webhook_delivery_store``) and processes it in the same
request (``webhook_delivery_process``; a few inserts per message), or — with
``WHATSAPP_WEBHOOK_INLINE`` off — answers once it is stored and leaves it to a Celery task
(``process_webhook_delivery``, sent on commit). Processing claims
the row with ``UPDATE … SET processed_at = now() WHERE id = … AND processed_at IS NULL`` in the
transaction that applies it, so two processes can never both apply a delivery, and a crash in
between leaves it unclaimed for ``webhook_deliveries_relay`` (Beat) to apply later.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.channels import whatsapp
from conversations.models import Channel, WebhookDelivery
from conversations.services.messages import inbound_message_receive, message_status_update

logger = logging.getLogger(__name__)

RELAY_AFTER = timedelta(seconds=30)
RELAY_BATCH = 100


@dataclass
class StoredDelivery:
    delivery: WebhookDelivery
    created: bool


def webhook_delivery_store(*, channel: Channel, body: bytes, enqueue: bool = False) -> StoredDelivery:
    """Keep a verified body; a retry of a stored one (same bytes) returns the stored row.

    ``enqueue``: a new delivery is handed to a Celery task once stored (committed).
    """
    digest = hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                organization_id=channel.organization_id,
                channel=channel,
                body=body.decode("utf-8", errors="replace"),
                body_sha256=digest,
            )
    except IntegrityError:
        return StoredDelivery(WebhookDelivery.objects.get(channel=channel, body_sha256=digest), False)
    if enqueue:
        transaction.on_commit(lambda: _enqueue_processing(delivery.pk))
    return StoredDelivery(delivery, True)


def _enqueue_processing(delivery_id: int) -> None:
    """A broker outage only delays the delivery: the relay applies it."""
    from conversations.tasks import process_webhook_delivery

    try:
        process_webhook_delivery.delay(delivery_id)
    except Exception:
        logger.exception("could not enqueue webhook delivery %s; the relay will apply it", delivery_id)


def _apply(channel: Channel, notification) -> dict:
    """Each message, status and template event in its own savepoint: one refused item does not undo
    the others. ``result["refused"]`` lists the malformed or refused items (the answer is then 400)."""
    from conversations.services.templates import template_quality_update, template_status_update

    result = {"messages_stored": 0, "duplicates": 0, "statuses_applied": 0, "ignored": 0}
    refused = list(notification.problems)
    for item in notification.messages:
        if item.phone_number_id != channel.phone_number_id:
            result["ignored"] += 1
            continue
        try:
            outcome = inbound_message_receive(
                channel=channel,
                phone=item.wa_id,
                name=item.profile_name,
                body=item.body,
                kind=item.kind,
                provider_message_id=item.provider_message_id,
                media_id=item.media_id,
                content_type=item.mime_type,
                filename=item.filename,
                sent_at=item.timestamp,
                reply_payload=item.reply_payload,
                context_message_id=item.context_id,
                location=item.location,
            )
        except ValidationError as error:
            refused.append(f"message {item.provider_message_id} refused: {' '.join(error.messages)}")
            continue
        result["messages_stored" if outcome.created else "duplicates"] += 1
    for item in notification.statuses:
        if item.phone_number_id != channel.phone_number_id:
            result["ignored"] += 1
            continue
        try:
            message = message_status_update(
                organization=channel.organization,
                provider_message_id=item.provider_message_id,
                status=item.status,
                at=item.timestamp,
                error=item.error,
            )
        except ValidationError as error:
            refused.append(f"status of {item.provider_message_id} refused: {' '.join(error.messages)}")
            continue
        result["statuses_applied" if message is not None else "ignored"] += 1
    if notification.template_events:
        result["templates_updated"] = 0
    for event in notification.template_events:
        # Only templates of the business account of the channel this URL names (in its organization).
        lookup = {
            "channel": channel,
            "business_account_id": event.business_account_id,
            "provider_id": event.provider_id,
            "name": event.name,
            "language": event.language,
        }
        try:
            if event.field == "message_template_status_update":
                changed = template_status_update(event=event.event, reason=event.reason, **lookup)
            else:
                changed = template_quality_update(quality=event.new_quality, **lookup)
        except ValidationError as error:
            refused.append(f"template event for {event.provider_id} refused: {' '.join(error.messages)}")
            continue
        if changed:
            result["templates_updated"] += len(changed)
        else:
            result["ignored"] += 1
    if refused:
        result["refused"] = refused
    return result


CLAIM_SQL = (
    f"UPDATE {WebhookDelivery._meta.db_table} SET processed_at = now(), attempts = attempts + 1 "
    "WHERE id = %s AND processed_at IS NULL RETURNING *"
)


def webhook_delivery_process(*, delivery_id: int, channel: Channel | None = None) -> dict | None:
    """Claim and apply a stored delivery; ``None`` when another process has claimed it already.

    A refused item (an invalid phone, say) is recorded in ``result["refused"]`` and ``error``; it
    would be refused again, so the delivery counts as processed.
    """
    with transaction.atomic():
        # One statement claims and reads the row; a concurrent claimer waits on its lock, then finds it taken.
        delivery = next(iter(WebhookDelivery.objects.raw(CLAIM_SQL, [delivery_id])), None)
        if delivery is None:
            return None
        if channel is not None and channel.pk == delivery.channel_id:
            delivery.channel = channel
        else:
            delivery.channel = Channel.objects.select_related("organization", "default_queue").get(
                pk=delivery.channel_id
            )
        try:
            notification = whatsapp.parse_notification(delivery.body.encode())
        except whatsapp.PayloadError as error:
            result = {"messages_stored": 0, "duplicates": 0, "statuses_applied": 0, "ignored": 0}
            result["refused"] = [f"malformed notification: {error}"]
        else:
            result = _apply(delivery.channel, notification)
        delivery.result = result
        delivery.error = "\n".join(result.get("refused", []))
        delivery.save(update_fields=["result", "error"])
    return result


def webhook_deliveries_relay(*, older_than: timedelta = RELAY_AFTER) -> int:
    """Apply stored deliveries nobody processed (a crash between storing and processing). Returns how many."""
    due = list(
        WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lte=timezone.now() - older_than)
        .order_by("received_at")
        .values_list("pk", flat=True)[:RELAY_BATCH]
    )
    done = 0
    for delivery_id in due:
        try:
            if webhook_delivery_process(delivery_id=delivery_id) is not None:
                done += 1
        except Exception:
            logger.exception("relaying webhook delivery %s failed; it stays for the next run", delivery_id)
    return done
