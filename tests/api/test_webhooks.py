"""Outbound webhooks against a local receiver that checks signatures with ``standardwebhooks`` itself."""

from __future__ import annotations

import datetime
import json
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.wrappers import Response

from conversations import services as conversation_services
from notifications import services as notification_services
from notifications.models import NotificationLog, Status
from notifications.webhooks import services
from notifications.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from pytake.events import Event, dispatch
from tests.api.conftest import Api


class Receiver:
    """Answers each request with the next of ``answers`` (a status code, or "timeout"), then 200; records them."""

    def __init__(self, httpserver, answers=()):
        self.server = httpserver
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.idle = threading.Event()
        self.idle.set()
        httpserver.expect_request("/hook").respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")

    def _handle(self, request):
        self.requests.append({"headers": dict(request.headers), "body": request.get_data(as_text=True)})
        answer = self.answers.pop(0) if self.answers else 200
        if answer == "timeout":
            self.idle.clear()
            time.sleep(1.0)  # longer than WEBHOOKS_TIMEOUT_SECONDS: the sender gives up first
            self.idle.set()
            answer = 200
        return Response(json.dumps({"ok": answer < 300}), status=answer, content_type="application/json")

    def verify(self, secret: str, index: int = -1):
        """The request's body as the receiver trusts it (raises if the signature does not match)."""
        seen = self.requests[index]
        return Webhook(secret).verify(seen["body"], seen["headers"])


@pytest.fixture
def hooks(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver listens on 127.0.0.1
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 20
    return settings


def _endpoint(org, url, events=("contact.created",), **fields):
    return services.endpoint_create(organization=org, url=url, events=list(events), **fields)


def _new_contact(org, capture, name="Ana"):
    with capture(execute=True):
        contact = conversation_services.contact_create(organization=org, name=name)
    return contact


def _deliver(delivery: WebhookDelivery):
    delivery.refresh_from_db()
    return notification_services.notification_deliver(log_id=delivery.log_id)


def test_a_delivery_is_signed_and_verified_by_the_receiver(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks
):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    contact = _new_contact(tenant_a.org, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.log.transport == "webhooks.http" and delivery.log.channel == "webhook"
    assert _deliver(delivery).status == Status.SENT
    body = receiver.verify(endpoint.secret)
    assert body["type"] == "contact.created"
    assert body["data"] == {"contact_id": contact.pk}
    assert body["organization_id"] == tenant_a.org.pk
    assert isinstance(body["sequence"], int) and body["timestamp"]
    headers = receiver.requests[0]["headers"]
    assert headers["Webhook-Id"] == delivery.message_id
    assert abs(int(headers["Webhook-Timestamp"]) - time.time()) < 60
    with pytest.raises(WebhookVerificationError):
        Webhook(services.new_secret()).verify(receiver.requests[0]["body"], headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    attempt = delivery.attempt_log.get()
    assert attempt.succeeded and attempt.response_excerpt == '{"ok": true}'


def test_a_tampered_body_fails_verification(tenant_a, hooks, httpserver, django_capture_on_commit_callbacks):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks)
    _deliver(WebhookDelivery.objects.get(endpoint=endpoint))
    seen = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(seen["body"].replace("contact", "Contact"), seen["headers"])


def test_after_a_rotation_both_secrets_verify_until_the_grace_ends(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks
):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    old_secret = endpoint.secret
    rotated = services.endpoint_rotate_secret(endpoint=endpoint, by=tenant_a.admin, grace_hours=24)
    assert rotated.secret != old_secret
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="During grace")
    _deliver(WebhookDelivery.objects.get(endpoint=endpoint))
    assert receiver.verify(old_secret)["type"] == "contact.created"
    assert receiver.verify(rotated.secret)["type"] == "contact.created"
    assert len(receiver.requests[0]["headers"]["Webhook-Signature"].split(" ")) == 2
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="After grace")
    _deliver(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-id").first())
    assert receiver.verify(rotated.secret)["type"] == "contact.created"
    with pytest.raises(WebhookVerificationError):
        receiver.verify(old_secret)


def test_retries_after_500s_and_a_timeout_on_the_schedule_with_jitter(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks
):
    receiver = Receiver(httpserver, answers=[500, 503, "timeout"])
    endpoint = _endpoint(tenant_a.org, receiver.url)
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    schedule = services.retry_schedule()
    for attempt in range(3):
        before = timezone.now()
        outcome = _deliver(delivery)
        assert outcome.status == Status.PENDING
        assert schedule[attempt] * 0.8 <= outcome.retry_in <= schedule[attempt] * 1.2
        row = NotificationLog.objects.get(pk=delivery.log_id)
        assert row.retry_count == attempt + 1
        assert row.enqueued_at >= before + datetime.timedelta(seconds=schedule[attempt] * 0.8)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.RETRYING and delivery.next_attempt_at == row.enqueued_at
    assert receiver.idle.wait(5)  # the one-threaded receiver has finished the request the sender gave up on
    assert _deliver(delivery).status == Status.SENT
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 4
    codes = [a.status_code for a in delivery.attempt_log.order_by("at", "id")]
    assert codes[:2] == [500, 503] and codes[2] is None and codes[3] == 200
    assert "Timeout" in delivery.attempt_log.order_by("at", "id")[2].error
    ids = {r["headers"]["Webhook-Id"] for r in receiver.requests}
    assert ids == {delivery.message_id}  # the same webhook-id on every retry: receivers can drop duplicates
    for index in range(len(receiver.requests)):
        receiver.verify(endpoint.secret, index)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0


def test_the_default_schedule_retries_for_more_than_a_day(settings):
    assert sum(float(s) for s in settings.WEBHOOKS_RETRY_SCHEDULE) >= 24 * 3600
    delays = {round(services.retry_delay(2), 6) for _ in range(20)}
    assert len(delays) > 1 and all(240 <= d <= 360 for d in delays)  # 300 s ± 20 %


def test_an_endpoint_that_keeps_failing_is_disabled_and_admins_are_told(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks
):
    hooks.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    receiver = Receiver(httpserver, answers=[500] * 10)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    for _ in range(3):
        _deliver(delivery)
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at is not None
    assert "3 consecutive failed attempts" in endpoint.disabled_reason
    told = NotificationLog.objects.filter(organization=tenant_a.org, event_type="webhook_disabled")
    assert set(told.values_list("user_id", flat=True)) == {tenant_a.admin.pk}
    assert _deliver(delivery).status == Status.FAILED  # the next try is not made: the endpoint is off
    assert len(receiver.requests) == 3
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="Later")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_a_failed_delivery_is_replayed_with_the_same_id_through_the_api(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks, api_for
):
    receiver = Receiver(httpserver, answers=[410])
    endpoint = _endpoint(tenant_a.org, receiver.url)
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert _deliver(delivery).status == Status.FAILED  # 410 Gone: no retries, the endpoint is turned off
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    api = api_for(tenant_a.org, tenant_a.admin)
    refused = api.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/replay/")
    assert refused.status_code == 422  # the endpoint is off
    assert api.patch(f"/api/v1/webhooks/endpoints/{endpoint.pk}/", {"is_active": True}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/replay/")
    assert answer.status_code == 201
    replay = WebhookDelivery.objects.get(pk=answer.json()["id"])
    assert replay.replay_of_id == delivery.pk and replay.message_id == delivery.message_id
    assert _deliver(replay).status == Status.SENT
    assert receiver.verify(endpoint.secret)["sequence"] == delivery.sequence
    log = api.get("/api/v1/webhooks/deliveries/", {"endpoint": endpoint.pk}).json()["results"]
    assert [row["status"] for row in log] == ["succeeded", "failed"]
    detail = api.get(f"/api/v1/webhooks/deliveries/{delivery.pk}/").json()
    assert detail["attempt_log"][0]["status_code"] == 410 and detail["payload"]["type"] == "contact.created"


def test_ordering_metadata_grows_with_each_event_and_is_shared_by_endpoints(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks
):
    receiver = Receiver(httpserver)
    one = _endpoint(tenant_a.org, receiver.url)
    two = _endpoint(tenant_a.org, receiver.url, events=["contact.created", "conversation.created"])
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="First")
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="Second")
    firsts = WebhookDelivery.objects.filter(endpoint=one).order_by("id")
    seconds = WebhookDelivery.objects.filter(endpoint=two).order_by("id")
    assert [d.sequence for d in firsts] == [d.sequence for d in seconds]
    assert firsts[0].sequence < firsts[1].sequence
    assert firsts[0].payload["timestamp"] <= firsts[1].payload["timestamp"]


def test_appointment_and_campaign_events_reach_subscribers(
    tenant_a, hooks, httpserver, django_capture_on_commit_callbacks
):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url, events=["appointment.created", "campaign.started"])
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(
            Event("appointment.created", tenant_a.org.pk, {"appointment_id": 7, "provider_id": 1, "contact_id": 2})
        )
        dispatch(Event("campaign.started", tenant_a.org.pk, {"campaign_id": 3, "status": "running"}))
        dispatch(Event("contact.created", tenant_a.org.pk, {"contact_id": 9}))  # not subscribed
    assert list(
        WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id").values_list("event_type", flat=True)
    ) == [
        "appointment.created",
        "campaign.started",
    ]


def test_events_of_another_organization_do_not_reach_an_endpoint(
    tenant_a, tenant_b, hooks, httpserver, django_capture_on_commit_callbacks
):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    _new_contact(tenant_b.org, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()


def test_events_of_an_organization_without_webhooks_cost_no_webhook_query(tenant_a, django_capture_on_commit_callbacks):
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="Warm")  # the routes are cached
    with CaptureQueriesContext(connection) as queries:
        _new_contact(tenant_a.org, django_capture_on_commit_callbacks, name="Cold")
    assert not [q for q in queries.captured_queries if "webhooks_" in q["sql"]]


def test_private_and_loopback_targets_are_refused_unless_allowed(tenant_a, settings, api_for):
    from django.core.exceptions import ValidationError

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    for url in (
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://192.168.1.1/",
        "ftp://example.com/",
        "http://user:pw@93.184.216.34/",
    ):
        with pytest.raises(ValidationError) as refused:
            services.endpoint_create(organization=tenant_a.org, url=url, events=["contact.created"])
        assert "url" in refused.value.message_dict, url
    answer = api_for(tenant_a.org, tenant_a.admin).post(
        "/api/v1/webhooks/endpoints/", {"url": "http://127.0.0.1:8000/x", "events": ["contact.created"]}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "url"
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    assert services.endpoint_create(
        organization=tenant_a.org, url="http://127.0.0.1:9/hook", events=["contact.created"]
    )


def test_a_target_that_became_private_is_not_called(tenant_a, hooks, httpserver, django_capture_on_commit_callbacks):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    _new_contact(tenant_a.org, django_capture_on_commit_callbacks)
    hooks.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    assert _deliver(WebhookDelivery.objects.get(endpoint=endpoint)).status == Status.FAILED
    assert receiver.requests == []


def test_endpoints_through_the_api_are_for_admins_and_show_the_secret_once(tenant_a, hooks, api_for):
    agent = api_for(tenant_a.org, tenant_a.agent)
    body = {"url": "https://hooks.example.com/pytake", "events": ["message.received"]}
    assert agent.post("/api/v1/webhooks/endpoints/", body).status_code == 403
    assert agent.get("/api/v1/webhooks/endpoints/").status_code == 200
    admin = api_for(tenant_a.org, tenant_a.admin)
    created = admin.post("/api/v1/webhooks/endpoints/", body)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    shown = admin.get(f"/api/v1/webhooks/endpoints/{created.json()['id']}/").json()
    assert "secret" not in shown
    rotated = admin.post(f"/api/v1/webhooks/endpoints/{shown['id']}/rotate-secret/", {"grace_hours": 2}).json()
    assert rotated["secret"] != created.json()["secret"] and rotated["previous_secret_expires_at"]
    bad = admin.post("/api/v1/webhooks/endpoints/", {"url": "https://x.example.com/", "events": ["nope"]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "events[0]"
    assert admin.delete(f"/api/v1/webhooks/endpoints/{shown['id']}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=shown["id"]).exists()


def test_the_test_event_is_delivered(tenant_a, hooks, httpserver, django_capture_on_commit_callbacks, api_for):
    receiver = Receiver(httpserver)
    endpoint = _endpoint(tenant_a.org, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_for(tenant_a.org, tenant_a.admin).post(f"/api/v1/webhooks/endpoints/{endpoint.pk}/test/")
    assert answer.status_code == 201
    _deliver(WebhookDelivery.objects.get(pk=answer.json()["id"]))
    assert receiver.verify(endpoint.secret)["type"] == "webhook.test"


def test_unused_api_import():
    assert Api
