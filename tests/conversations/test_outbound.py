"""Outbound sends against a local HTTP server standing in for the Graph API."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from werkzeug import Response

from conversations import services
from conversations.channels.whatsapp import SendError, WhatsAppClient
from conversations.models import DeliveryStatus
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

GRAPH_OK = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "5511987654321", "wa_id": "5511987654321"}],
    "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0VDNzE1NjdGNUI3QjFFOUMA"}],
}


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_RETRY_BACKOFF = 0.01
    settings.WHATSAPP_HTTP_TIMEOUT = 2
    return httpserver


@pytest.fixture
def reply(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    channel = cf.channel(tenant_a.org, queue=queue, phone_number_id="106540352242922", access_token="EAAG-test-token")
    agent = cf.online_agent(tenant_a.org, queue=queue)
    conversation = services.inbound_message_receive(
        channel=channel, phone="+5511987654321", body="oi"
    ).message.conversation
    return services.message_send(conversation=conversation, author=agent, body="Olá! Como posso ajudar?")


def test_text_send_matches_the_graph_api_format_and_stores_the_id(graph, reply):
    graph.expect_oneshot_request(
        "/v21.0/106540352242922/messages",
        method="POST",
        headers={"Authorization": "Bearer EAAG-test-token"},
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511987654321",
            "type": "text",
            "text": {"preview_url": False, "body": "Olá! Como posso ajudar?"},
        },
    ).respond_with_json(GRAPH_OK)
    message = cf.deliver(reply)
    graph.check_assertions()
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id == GRAPH_OK["messages"][0]["id"]
    row = cf.outbox_row(reply)
    assert row.status == "sent" and row.provider_message_id == message.provider_message_id
    assert row.recipient == "+5511987654321" and row.recipient_contact_id == reply.conversation.contact_id
    # Running the task again sends nothing (the server would refuse a second request).
    assert cf.deliver(reply).provider_message_id == message.provider_message_id
    assert len(graph.log) == 1


def test_a_500_then_200_is_retried_and_succeeds(graph, reply):
    graph.expect_ordered_request("/v21.0/106540352242922/messages", method="POST").respond_with_response(
        Response(
            json.dumps({"error": {"message": "temporarily unavailable", "code": 2}}),
            status=500,
            content_type="application/json",
        )
    )
    graph.expect_ordered_request("/v21.0/106540352242922/messages", method="POST").respond_with_json(GRAPH_OK)
    # The outbox's one retry policy: the first attempt puts the row back to pending with a retry counted.
    message = cf.deliver(reply)
    assert message.delivery_status == DeliveryStatus.QUEUED and "500" in message.error
    row = cf.outbox_row(reply)
    assert row.status == "pending" and row.retry_count == 1 and "500" in row.error
    message = cf.deliver(reply)
    graph.check_assertions()
    assert len(graph.log) == 2
    assert message.delivery_status == DeliveryStatus.SENT and message.provider_message_id.startswith("wamid.")


def test_a_timeout_is_retried(graph, reply, settings):
    # The stand-in server answers one request at a time: the retry comes after it is free again.
    settings.WHATSAPP_HTTP_TIMEOUT = 0.1
    settings.WHATSAPP_RETRY_BACKOFF = 0.6
    import time

    def slow(request):
        time.sleep(0.3)
        return Response(json.dumps(GRAPH_OK), content_type="application/json")

    graph.expect_ordered_request("/v21.0/106540352242922/messages", method="POST").respond_with_handler(slow)
    graph.expect_ordered_request("/v21.0/106540352242922/messages", method="POST").respond_with_json(GRAPH_OK)
    message = cf.deliver(reply)
    assert message.delivery_status == DeliveryStatus.QUEUED and "Timeout" in cf.outbox_row(reply).error
    # The next attempt (the outbox's retry) once the slow answer is over: the server is free again.
    deadline = time.monotonic() + 10
    while not graph.log and time.monotonic() < deadline:
        time.sleep(0.02)
    message = cf.deliver(reply)
    assert message.delivery_status == DeliveryStatus.SENT
    assert cf.outbox_row(reply).retry_count == 1


def test_persistent_5xx_fails_after_the_retries_with_the_error(graph, reply, settings):
    cf.outbox_row(reply).__class__.objects.filter(pk=cf.outbox_row(reply).pk).update(max_retries=2)
    graph.expect_request("/v21.0/106540352242922/messages").respond_with_data("bad gateway", status=502)
    message = cf.deliver(reply, attempts=5)
    assert len(graph.log) == 3
    assert cf.outbox_row(reply).status == "failed" and cf.outbox_row(reply).retry_count == 2
    assert (
        message.delivery_status == DeliveryStatus.FAILED
        and "502" in message.error
        and message.provider_message_id == ""
    )


def test_a_4xx_is_not_retried(graph, reply):
    graph.expect_request("/v21.0/106540352242922/messages").respond_with_json(
        {"error": {"message": "(#131030) Recipient phone number not in allowed list", "code": 131030}}, status=400
    )
    message = cf.deliver(reply, attempts=3)
    assert len(graph.log) == 1
    assert message.delivery_status == DeliveryStatus.FAILED and "131030" in message.error
    assert cf.outbox_row(reply).status == "failed" and cf.outbox_row(reply).retry_count == 0


def test_attachment_is_uploaded_then_sent_by_media_id(graph, tenant_a, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    channel = cf.channel(tenant_a.org, queue=queue, phone_number_id="106540352242922")
    agent = cf.online_agent(tenant_a.org, queue=queue)
    conversation = services.inbound_message_receive(
        channel=channel, phone="+5511987654321", body="oi"
    ).message.conversation
    upload = SimpleUploadedFile("boleto.pdf", b"%PDF-1.4 data", content_type="application/pdf")
    message = services.message_send(conversation=conversation, author=agent, body="Segue o boleto", attachment=upload)
    graph.expect_ordered_request("/v21.0/106540352242922/media", method="POST").respond_with_json({"id": "media-77"})
    graph.expect_ordered_request(
        "/v21.0/106540352242922/messages",
        method="POST",
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511987654321",
            "type": "document",
            "document": {"id": "media-77", "caption": "Segue o boleto", "filename": "boleto.pdf"},
        },
    ).respond_with_json(GRAPH_OK)
    sent = cf.deliver(message)
    graph.check_assertions()
    assert sent.delivery_status == DeliveryStatus.SENT
    upload_request = graph.log[0][0]
    assert b"%PDF-1.4 data" in upload_request.get_data() and b'name="messaging_product"' in upload_request.get_data()


def test_client_refuses_a_reply_without_an_id(graph):
    graph.expect_request("/v21.0/1/messages").respond_with_json({"messaging_product": "whatsapp"})
    client = WhatsAppClient(phone_number_id="1", access_token="t")
    with pytest.raises(SendError, match="no message id"):
        client.send_text(to="+5511987654321", body="x")


def test_connection_refused_is_retried_then_reported(settings):
    settings.WHATSAPP_GRAPH_BASE_URL = "http://127.0.0.1:9/v21.0"  # discard port: nothing listens
    client = WhatsAppClient(phone_number_id="1", access_token="t", retries=1, backoff=0.01, timeout=1)
    with pytest.raises(SendError, match="gave up after 2 attempts") as error:
        client.send_text(to="+5511987654321", body="x")
    assert error.value.retryable


def _inbound_image(tenant, media_id="1003383421387256"):
    channel = cf.channel(tenant.org, phone_number_id="106540352242922", access_token="EAAG-test-token")
    return services.inbound_message_receive(
        channel=channel,
        phone="+5511987654321",
        kind="image",
        body="the receipt",
        media_id=media_id,
        content_type="image/jpeg",
        provider_message_id=f"wamid.{media_id}",
    ).message


def test_inbound_media_is_downloaded_into_the_attachment(graph, tenant_a, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    message = _inbound_image(tenant_a)
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 100
    graph.expect_ordered_request(
        "/v21.0/1003383421387256", method="GET", headers={"Authorization": "Bearer EAAG-test-token"}
    ).respond_with_json(
        {
            "messaging_product": "whatsapp",
            "url": graph.url_for("/lookaside/media-blob"),
            "mime_type": "image/jpeg",
            "sha256": "x",
            "file_size": len(jpeg),
            "id": "1003383421387256",
        }
    )
    graph.expect_ordered_request(
        "/lookaside/media-blob", method="GET", headers={"Authorization": "Bearer EAAG-test-token"}
    ).respond_with_data(jpeg, content_type="image/jpeg")
    stored = services.message_fetch_media(message_id=message.pk)
    graph.check_assertions()
    assert stored.attachment_size == len(jpeg) and stored.attachment_name.endswith(".jpg")
    with stored.attachment.open("rb") as handle:
        assert handle.read() == jpeg
    # Again: nothing is downloaded twice.
    services.message_fetch_media(message_id=message.pk)
    assert len(graph.log) == 2


def test_oversized_inbound_media_is_refused_with_a_reason(graph, tenant_a, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    message = _inbound_image(tenant_a, media_id="555")
    graph.expect_request("/v21.0/555", method="GET").respond_with_json(
        {"url": graph.url_for("/lookaside/big"), "mime_type": "image/jpeg", "file_size": 50 * 1024 * 1024, "id": "555"}
    )
    stored = services.message_fetch_media(message_id=message.pk)
    assert not stored.attachment and "limit" in stored.error
    assert stored.body == "the receipt"
