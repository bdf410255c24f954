"""Stored WhatsApp deliveries: kept before they are applied, applied exactly once, never lost."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django import db
from django.utils import timezone

from conversations import services
from conversations.models import Message, WebhookDelivery
from tests.conversations.test_webhook import channel, post, text_payload  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_retried_delivery_is_stored_and_applied_once(live_server, channel):  # noqa: F811
    payload = text_payload(channel)
    for _ in range(3):
        assert post(live_server, channel, payload).status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.channel == channel and delivery.organization == channel.organization
    assert json.loads(delivery.body) == payload
    assert delivery.processed_at is not None and delivery.attempts == 1
    assert delivery.result == {"messages_stored": 1, "duplicates": 0, "statuses_applied": 0, "ignored": 0}
    assert Message.objects.count() == 1


def test_a_bad_signature_or_body_stores_no_delivery(live_server, channel):  # noqa: F811
    assert post(live_server, channel, text_payload(channel), secret="wrong").status_code == 403
    assert post(live_server, channel, raw=b"{not json").status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_a_refused_message_is_recorded_and_the_others_are_kept(live_server, channel):  # noqa: F811
    payload = text_payload(channel, wamid="wamid.good")
    bad = dict(payload["entry"][0]["changes"][0]["value"]["messages"][0], id="wamid.bad", **{"from": "12"})
    payload["entry"][0]["changes"][0]["value"]["messages"].append(bad)
    response = post(live_server, channel, payload)
    assert response.status_code == 400 and "wamid.bad" in response.json()["error"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.processed_at is not None and "wamid.bad" in delivery.error
    assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["wamid.good"]


def test_the_relay_applies_a_delivery_stored_but_never_processed(channel):  # noqa: F811
    body = json.dumps(text_payload(channel, wamid="wamid.crashed")).encode()
    stored = services.webhook_delivery_store(channel=channel, body=body)  # the request died right here
    assert stored.created and stored.delivery.processed_at is None
    assert services.webhook_deliveries_relay() == 0  # too recent: its request may still be applying it
    WebhookDelivery.objects.filter(pk=stored.delivery.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    assert services.webhook_deliveries_relay() == 1
    assert services.webhook_deliveries_relay() == 0
    assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["wamid.crashed"]
    assert WebhookDelivery.objects.get().attempts == 1


def test_concurrent_processing_applies_a_delivery_once(channel):  # noqa: F811
    body = json.dumps(text_payload(channel, wamid="wamid.raced")).encode()
    delivery = services.webhook_delivery_store(channel=channel, body=body).delivery
    barrier = threading.Barrier(4)
    results = []

    def process():
        try:
            barrier.wait(10)
            results.append(services.webhook_delivery_process(delivery_id=delivery.pk))
        finally:
            db.connection.close()

    threads = [threading.Thread(target=process) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=lambda result: result is None) == [
        {"messages_stored": 1, "duplicates": 0, "statuses_applied": 0, "ignored": 0},
        None,
        None,
        None,
    ]
    assert Message.objects.filter(provider_message_id="wamid.raced").count() == 1


def test_without_inline_processing_the_answer_comes_once_stored_and_a_task_applies_it(
    live_server,
    channel,  # noqa: F811
    settings,
):
    from conversations import tasks

    settings.WHATSAPP_WEBHOOK_INLINE = False
    payload = text_payload(channel, wamid="wamid.later")
    response = post(live_server, channel, payload)
    assert response.status_code == 200 and response.json() == {"stored": "new"}
    assert post(live_server, channel, payload).json() == {"stored": "duplicate"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.processed_at is None and not Message.objects.exists()
    tasks.process_webhook_delivery(delivery.pk)  # what the worker runs
    tasks.process_webhook_delivery(delivery.pk)  # a redelivered task finds it applied
    assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["wamid.later"]
    assert WebhookDelivery.objects.get().attempts == 1
