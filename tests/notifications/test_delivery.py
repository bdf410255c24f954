"""Delivery through real servers: SMTP (aiosmtpd), the WhatsApp Graph API and an SMS gateway (pytest-httpserver), Redis channel layer."""

from __future__ import annotations

import base64
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse

from notifications import services
from notifications.models import NotificationLog, Status
from notifications.tasks import deliver_notification
from tests.notifications import factories as nf

pytestmark = pytest.mark.django_db


def _email_row(tenant, **context):
    rows = services.notify(
        organization=tenant.org,
        event_type="conversation_assigned",
        recipients=[tenant.agent],
        channels=["email"],
        context={
            "contact_name": "Ana Souza",
            "conversation_id": 12,
            "conversation_url": "http://x.test/inbox/12/",
            **context,
        },
    )
    return rows[0]


def test_email_has_html_and_text_parts_and_the_row_id_as_message_id(tenant_a, smtp_server):
    row = _email_row(tenant_a)
    outcome = services.notification_deliver(log_id=row.pk)
    assert outcome.status == Status.SENT
    [message] = smtp_server.handler.messages
    assert message["To"] == tenant_a.agent.email
    assert message["Message-ID"] == f"<notification-{row.pk}@pytake.notifications>"
    types = [part.get_content_type() for part in message.walk()]
    assert "text/plain" in types and "text/html" in types
    assert "Ana Souza" in message.get_body(("plain",)).get_content()
    assert "http://x.test/inbox/12/" in message.get_body(("html",)).get_content()
    row.refresh_from_db()
    assert (row.status, row.retry_count, row.provider_message_id) == (Status.SENT, 0, row.message_id_header)
    assert row.sent_at is not None


def test_a_claimed_row_is_never_sent_twice(tenant_a, smtp_server):
    row = _email_row(tenant_a)
    assert services.notification_deliver(log_id=row.pk).status == Status.SENT
    assert services.notification_deliver(log_id=row.pk).status == "not_claimed"
    assert deliver_notification.apply(args=[row.pk]).get() == "not_claimed"
    assert len(smtp_server.handler.messages) == 1


def test_server_refusing_twice_then_accepting_is_sent_on_the_third_try(tenant_a, smtp_server):
    smtp_server.handler.refuse_next = 2
    row = _email_row(tenant_a)
    result = deliver_notification.apply(args=[row.pk])  # the real task, its retries run eagerly
    assert result.get() == Status.SENT
    row.refresh_from_db()
    assert (row.status, row.retry_count) == (Status.SENT, 2)
    assert smtp_server.handler.refused == 2
    assert len(smtp_server.handler.messages) == 1


def test_server_refusing_always_fails_with_the_error_after_max_retries(tenant_a, smtp_server):
    smtp_server.handler.refuse_always = True
    row = _email_row(tenant_a)
    assert deliver_notification.apply(args=[row.pk]).get() == Status.FAILED
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.retry_count == row.max_retries == 3
    assert "451" in row.error and "Try again later" in row.error
    assert smtp_server.handler.refused == 4  # the first try and three retries
    assert smtp_server.handler.messages == []


def test_backoff_is_5_25_125_times_the_base(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 1
    assert [services.retry_delay(n) for n in (1, 2, 3)] == [5, 25, 125]


def test_retry_schedules_the_next_attempt_with_backoff(tenant_a, smtp_server, settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 1
    smtp_server.handler.refuse_next = 1
    row = _email_row(tenant_a)
    outcome = services.notification_deliver(log_id=row.pk)
    assert outcome.retry_in == 5
    row.refresh_from_db()
    assert (row.status, row.retry_count) == (Status.PENDING, 1)
    assert 4 < (row.enqueued_at - row.updated_at).total_seconds() <= 5


def test_whatsapp_posts_to_the_graph_api(tenant_a, httpserver, settings):
    settings.NOTIFICATIONS_WHATSAPP_API_BASE = httpserver.url_for("/")
    settings.NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID = "10987"
    settings.NOTIFICATIONS_WHATSAPP_ACCESS_TOKEN = "secret-token"
    nf.preference(tenant_a.org, tenant_a.agent, whatsapp_enabled=True, phone_number="+5511987654321")
    httpserver.expect_oneshot_request(
        f"/{settings.NOTIFICATIONS_WHATSAPP_API_VERSION}/10987/messages",
        method="POST",
        headers={"Authorization": "Bearer secret-token"},
    ).respond_with_json({"messaging_product": "whatsapp", "messages": [{"id": "wamid.ABC"}]})
    row = services.notify(
        organization=tenant_a.org,
        event_type="sla_breached",
        recipients=[tenant_a.agent],
        channels=["whatsapp"],
        context={"contact_name": "Ana"},
    )[0]
    assert services.notification_deliver(log_id=row.pk).status == Status.SENT
    body = json.loads(httpserver.log[0][0].data)
    assert body["to"] == "5511987654321" and body["type"] == "text" and "Ana" in body["text"]["body"]
    row.refresh_from_db()
    assert row.provider_message_id == "wamid.ABC"


def test_whatsapp_client_error_fails_at_once_and_server_error_retries(tenant_a, httpserver, settings):
    settings.NOTIFICATIONS_WHATSAPP_API_BASE = httpserver.url_for("/")
    settings.NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID = "1"
    settings.NOTIFICATIONS_WHATSAPP_ACCESS_TOKEN = "t"
    nf.preference(tenant_a.org, tenant_a.agent, whatsapp_enabled=True, phone_number="+5511987654321")
    httpserver.expect_oneshot_request(f"/{settings.NOTIFICATIONS_WHATSAPP_API_VERSION}/1/messages").respond_with_json(
        {"error": {"message": "bad number"}}, status=400
    )
    httpserver.expect_oneshot_request(f"/{settings.NOTIFICATIONS_WHATSAPP_API_VERSION}/1/messages").respond_with_data(
        "down", status=503
    )
    first, second = (
        services.notify(
            organization=tenant_a.org,
            event_type="custom",
            recipients=[tenant_a.agent],
            channels=["whatsapp"],
            context={"title": str(n)},
        )[0]
        for n in range(2)
    )
    assert services.notification_deliver(log_id=first.pk).status == Status.FAILED
    first.refresh_from_db()
    assert "bad number" in first.error
    assert services.notification_deliver(log_id=second.pk).retry_in is not None


def test_whatsapp_not_configured_is_a_permanent_failure_not_a_fake_success(tenant_a, settings):
    settings.NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID = ""
    nf.preference(tenant_a.org, tenant_a.agent, whatsapp_enabled=True, phone_number="+5511987654321")
    row = services.notify(
        organization=tenant_a.org,
        event_type="custom",
        recipients=[tenant_a.agent],
        channels=["whatsapp"],
        context={"title": "x"},
    )[0]
    assert services.notification_deliver(log_id=row.pk).status == Status.FAILED
    row.refresh_from_db()
    assert "not configured" in row.error


def test_sms_through_the_http_gateway(tenant_a, httpserver, settings):
    settings.NOTIFICATIONS_SMS_BACKEND = "http"
    settings.NOTIFICATIONS_SMS_GATEWAY_URL = httpserver.url_for("/sms")
    settings.NOTIFICATIONS_SMS_GATEWAY_TOKEN = "gw"
    nf.preference(tenant_a.org, tenant_a.agent, sms_enabled=True, phone_number="+5511987654321")
    httpserver.expect_oneshot_request("/sms", method="POST", headers={"Authorization": "Bearer gw"}).respond_with_json(
        {"id": "sms-1"}
    )
    row = services.notify(
        organization=tenant_a.org,
        event_type="custom",
        recipients=[tenant_a.agent],
        channels=["sms"],
        context={"title": "Hello SMS"},
    )[0]
    assert services.notification_deliver(log_id=row.pk).status == Status.SENT
    assert json.loads(httpserver.log[0][0].data) == {"to": "+5511987654321", "text": "Hello SMS"}
    row.refresh_from_db()
    assert row.provider_message_id == "sms-1"


def test_websocket_and_in_app_reach_the_users_group(tenant_a):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    group = f"org-{tenant_a.org.pk}.user-{tenant_a.agent.pk}"
    async_to_sync(layer.group_add)(group, channel)
    try:
        rows = services.notify(
            organization=tenant_a.org,
            event_type="custom",
            recipients=[tenant_a.agent],
            channels=["in_app"],
            context={"title": "Live!"},
        )
        assert services.notification_deliver(log_id=rows[0].pk).status == Status.SENT
        message = async_to_sync(layer.receive)(channel)
        assert message["type"] == "notification.message"
        assert (message["subject"], message["id"], message["unread"]) == ("Live!", rows[0].pk, 1)
    finally:
        async_to_sync(layer.group_discard)(group, channel)


def test_anymail_tracking_webhook_marks_delivered_and_bounced(tenant_a, client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass", "POSTMARK_SERVER_TOKEN": "x"}
    delivered, bounced = (
        services.notify(
            organization=tenant_a.org,
            event_type="custom",
            recipients=[tenant_a.agent],
            channels=["email"],
            context={"title": str(n)},
        )[0]
        for n in range(2)
    )
    NotificationLog.objects.filter(pk=delivered.pk).update(status=Status.SENT, provider_message_id="pm-1")
    NotificationLog.objects.filter(pk=bounced.pk).update(status=Status.SENT, provider_message_id="pm-2")
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"user:pass").decode()}
    url = reverse("notifications:anymail:postmark_tracking_webhook")
    assert url.startswith("/webhooks/email/")
    response = client.post(
        url,
        json.dumps(
            {
                "RecordType": "Delivery",
                "MessageID": "pm-1",
                "Recipient": tenant_a.agent.email,
                "DeliveredAt": "2026-05-04T12:00:00Z",
                "Details": "ok",
            }
        ),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200
    response = client.post(
        url,
        json.dumps(
            {
                "RecordType": "Bounce",
                "MessageID": "pm-2",
                "Type": "HardBounce",
                "TypeCode": 1,
                "Email": tenant_a.agent.email,
                "BouncedAt": "2026-05-04T12:00:00Z",
                "Description": "Mailbox unknown",
                "Details": "550 no such user",
            }
        ),
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200
    delivered.refresh_from_db()
    bounced.refresh_from_db()
    assert delivered.status == Status.DELIVERED and delivered.delivered_at is not None
    assert bounced.status == Status.BOUNCED and bounced.error


def test_tracking_webhook_without_the_secret_changes_nothing(tenant_a, client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    row = services.notify(
        organization=tenant_a.org,
        event_type="custom",
        recipients=[tenant_a.agent],
        channels=["email"],
        context={"title": "x"},
    )[0]
    NotificationLog.objects.filter(pk=row.pk).update(status=Status.SENT, provider_message_id="pm-9")
    response = client.post(
        reverse("notifications:anymail:postmark_tracking_webhook"),
        json.dumps({"RecordType": "Delivery", "MessageID": "pm-9"}),
        content_type="application/json",
    )
    assert response.status_code in (400, 403)
    row.refresh_from_db()
    assert row.status == Status.SENT


def test_stale_send_is_recovered_by_the_relay_after_the_lease(tenant_a, smtp_server):
    import datetime

    from django.utils import timezone

    row = _email_row(tenant_a)
    stale = timezone.now() - datetime.timedelta(minutes=30)
    NotificationLog.objects.filter(pk=row.pk).update(status=Status.SENDING, claimed_at=stale)
    assert services.notification_relay(lease=600).reclaimed == 1
    row.refresh_from_db()
    assert (row.status, row.retry_count) == (Status.PENDING, 1)
    assert services.notification_deliver(log_id=row.pk).status == Status.SENT


def test_delivering_one_email_costs_two_queries(tenant_a, smtp_server, django_assert_num_queries):
    row = _email_row(tenant_a)
    with django_assert_num_queries(2):  # claim-and-load (UPDATE … RETURNING), then the outcome
        assert services.notification_deliver(log_id=row.pk).status == Status.SENT
