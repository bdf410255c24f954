"""The WhatsApp webhook over real HTTP (live server), with payloads in Meta's format."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests

from conversations import services
from conversations.models import Conversation, DeliveryStatus, Message
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db(transaction=True)


def text_payload(
    channel,
    *,
    wamid="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYIDA",
    sender="5511987654321",
    body="Olá, preciso de ajuda",
    name="Maria Silva",
):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": channel.phone_number_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": wamid,
                                    "timestamp": "1750000000",
                                    "type": "text",
                                    "text": {"body": body},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def image_payload(channel):
    payload = text_payload(channel, wamid="wamid.image1")
    payload["entry"][0]["changes"][0]["value"]["messages"] = [
        {
            "from": "5511987654321",
            "id": "wamid.image1",
            "timestamp": "1750000001",
            "type": "image",
            "image": {"caption": "the receipt", "mime_type": "image/jpeg", "sha256": "abc=", "id": "1003383421387256"},
        }
    ]
    return payload


def status_payload(channel, wamid, status, timestamp="1750000100"):
    entry = {"id": wamid, "status": status, "timestamp": timestamp, "recipient_id": "5511987654321"}
    if status in ("sent", "delivered"):
        entry["conversation"] = {"id": "conv-1", "origin": {"type": "service"}}
        entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": channel.phone_number_id,
                            },
                            "statuses": [entry],
                        },
                    }
                ],
            }
        ],
    }


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(
    live_server,
    channel,
    payload=None,
    *,
    raw: bytes | None = None,
    secret: str | None = None,
    signature: str | None = None,
    channel_id=None,
):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature is None and secret is not False:
        signature = sign(body, secret or channel.app_secret)
    if signature:
        headers["X-Hub-Signature-256"] = signature
    url = f"{live_server.url}/webhooks/whatsapp/{channel_id or channel.public_id}/"
    return requests.post(url, data=body, headers=headers, timeout=10)


@pytest.fixture
def channel(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    return cf.channel(tenant_a.org, queue=queue)


def test_verification_handshake(live_server, channel):
    url = f"{live_server.url}/webhooks/whatsapp/{channel.public_id}/"
    ok = requests.get(
        url,
        params={"hub.mode": "subscribe", "hub.verify_token": channel.verify_token, "hub.challenge": "1158201444"},
        timeout=10,
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = requests.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}, timeout=10
    )
    assert wrong.status_code == 403 and "verify_token" in wrong.json()["error"]
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 400


def test_valid_signature_stores_the_message(live_server, channel):
    response = post(live_server, channel, text_payload(channel))
    assert response.status_code == 200, response.text
    assert response.json()["messages_stored"] == 1
    message = Message.objects.get()
    assert (
        message.body == "Olá, preciso de ajuda"
        and message.provider_message_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYIDA"
    )
    assert message.conversation.contact.phone == "+5511987654321" and message.conversation.contact.name == "Maria Silva"
    assert message.conversation.queue == channel.default_queue


def test_media_message_keeps_its_type_caption_and_media_id(live_server, channel):
    assert post(live_server, channel, image_payload(channel)).status_code == 200
    message = Message.objects.get()
    assert (message.kind, message.body, message.provider_media_id, message.attachment_content_type) == (
        "image",
        "the receipt",
        "1003383421387256",
        "image/jpeg",
    )


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "garbage", "sha1=abc"])
def test_bad_or_missing_signature_is_403_and_stores_nothing(live_server, channel, signature):
    response = post(live_server, channel, text_payload(channel), secret=False, signature=signature or "")
    assert response.status_code == 403
    assert "X-Hub-Signature-256" in response.json()["error"]
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_signature_with_another_channels_secret_is_refused(live_server, channel, tenant_b):
    other = cf.channel(tenant_b.org)
    response = post(live_server, channel, text_payload(channel), secret=other.app_secret)
    assert response.status_code == 403
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"object": "page"}).encode(), "whatsapp_business_account"),
        (json.dumps({"object": "whatsapp_business_account", "entry": "x"}).encode(), "entry"),
        (
            json.dumps(
                {
                    "object": "whatsapp_business_account",
                    "entry": [
                        {
                            "changes": [
                                {
                                    "field": "messages",
                                    "value": {"metadata": {"phone_number_id": "1"}, "messages": [{"id": "x"}]},
                                }
                            ]
                        }
                    ],
                }
            ).encode(),
            "from",
        ),
        ("\udcff".encode("utf-8", "surrogatepass"), "JSON"),
    ],
)
def test_malformed_bodies_are_400_with_a_reason(live_server, channel, raw, reason):
    response = post(live_server, channel, raw=raw)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not Message.objects.exists()


def test_unknown_or_inactive_channel_is_404(live_server, channel):
    for channel_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = post(live_server, channel, text_payload(channel), channel_id=channel_id)
        assert response.status_code == 404 and "unknown channel" in response.json()["error"]
    channel.is_active = False
    channel.save()
    assert post(live_server, channel, text_payload(channel)).status_code == 404


def test_oversized_body_is_413(live_server, channel, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 2048
    payload = text_payload(channel, body="x" * 4000)
    response = post(live_server, channel, payload)
    assert response.status_code == 413 and "too large" in response.json()["error"]
    assert not Message.objects.exists()


def test_invalid_sender_phone_is_400(live_server, channel):
    response = post(live_server, channel, text_payload(channel, sender="12"))
    assert response.status_code == 400 and "phone" in response.json()["error"]


def test_duplicate_deliveries_store_one_message(live_server, channel):
    payload = text_payload(channel)
    first = post(live_server, channel, payload)
    second = post(live_server, channel, payload)
    assert first.json()["messages_stored"] == 1
    assert second.status_code == 200 and second.json() == {
        "messages_stored": 0,
        "duplicates": 1,
        "statuses_applied": 0,
        "ignored": 0,
    }
    assert Message.objects.count() == 1


def test_a_profile_name_longer_than_the_column_still_stores_the_message(live_server, channel):
    long_name = "Maria " + "da Silva " * 40  # 366 characters; the contact name holds 150
    response = post(live_server, channel, text_payload(channel, name=long_name))
    assert response.status_code == 200 and response.json()["messages_stored"] == 1
    message = Message.objects.select_related("conversation__contact").get()
    assert message.body == "Olá, preciso de ajuda"
    assert message.conversation.contact.name == long_name[:150].strip()


def test_a_long_provider_id_is_stored_whole_and_its_redelivery_is_a_duplicate(live_server, channel):
    wamid = "wamid." + "HBgNNTUxMTk4NzY1NDMyMRUCABIYIDA" * 8  # 254 characters, over the old 128
    payload = text_payload(channel, wamid=wamid)
    assert post(live_server, channel, payload).json()["messages_stored"] == 1
    again = post(live_server, channel, payload)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert Message.objects.get().provider_message_id == wamid


def test_other_phone_number_ids_are_ignored(live_server, channel):
    payload = text_payload(channel)
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    response = post(live_server, channel, payload)
    assert response.status_code == 200 and response.json()["ignored"] == 1
    assert not Message.objects.exists()


def test_statuses_move_a_message_sent_delivered_read(live_server, tenant_a, channel):
    agent = cf.online_agent(tenant_a.org)
    conversation = services.inbound_message_receive(
        channel=channel, phone="+5511987654321", body="hi"
    ).message.conversation
    reply = services.message_send(conversation=conversation, author=agent, body="hello")
    # Stand in for the Graph API's answer to the send: a wamid is stored, status "queued" until "sent".
    Message.objects.filter(pk=reply.pk).update(provider_message_id="wamid.reply1")
    seen = []
    for status, ts in (("sent", "1750000100"), ("delivered", "1750000105"), ("read", "1750000200")):
        response = post(live_server, channel, status_payload(channel, "wamid.reply1", status, ts))
        assert response.status_code == 200 and response.json()["statuses_applied"] == 1
        reply.refresh_from_db()
        seen.append(reply.delivery_status)
    assert seen == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    assert reply.read_at.timestamp() == 1750000200 and reply.delivered_at.timestamp() == 1750000105
    # A late "delivered" does not move it back.
    post(live_server, channel, status_payload(channel, "wamid.reply1", "delivered", "1750000300"))
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.READ


def test_failed_status_keeps_the_error(live_server, tenant_a, channel):
    agent = cf.online_agent(tenant_a.org)
    conversation = services.inbound_message_receive(
        channel=channel, phone="+5511987654321", body="hi"
    ).message.conversation
    reply = services.message_send(conversation=conversation, author=agent, body="hello")
    Message.objects.filter(pk=reply.pk).update(provider_message_id="wamid.reply2", delivery_status="sent")
    payload = status_payload(channel, "wamid.reply2", "failed")
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = [
        {"code": 131047, "title": "Re-engagement message"}
    ]
    assert post(live_server, channel, payload).status_code == 200
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED and "131047" in reply.error
