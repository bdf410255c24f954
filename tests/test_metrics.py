"""``/metrics``: scraped after real traffic (pages, a signed webhook, an SLA sweep, deliveries), its
access rules (token, networks), and several processes adding up in multiprocess mode."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from accounts import services as account_services
from conversations import services as conversation_services
from conversations.models import Conversation
from notifications import services as notification_services
from notifications.models import NotificationLog
from tests import factories
from tests.conversations import factories as cf
from tests.conversations.test_webhook import post, text_payload

ROOT = Path(__file__).resolve().parent.parent


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client | None = None, **extra) -> dict[tuple[str, frozenset], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return _samples(response.content.decode())


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.django_db(transaction=True)
def test_counters_and_gauges_move_with_real_traffic(live_server, tenant_a, client_for, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _closed_port(), 2
    queue = factories.queue(
        tenant_a.org, routing_strategy="manual", sla_first_response_minutes=10, sla_resolution_minutes=100
    )
    channel = cf.channel(tenant_a.org, queue=queue)
    agent = tenant_a.agent.memberships.get(organization=tenant_a.org)
    before = scrape()

    # Pages, through the test client: labelled by the resolver's view name.
    agent_client = client_for(tenant_a.agent)
    assert agent_client.get(reverse("inbox:index")).status_code == 200
    assert agent_client.get("/no/such/page/").status_code == 404
    # A signed webhook over real HTTP: one message in.
    assert post(live_server, channel, text_payload(channel, wamid="wamid.metrics1")).status_code == 200
    conversation = Conversation.objects.get(contact__phone="+5511987654321")
    # An SLA sweep long after the targets: a warning and a breach of each kind.
    raised = conversation_services.sla_sweep(now=conversation.sla_started_at + dt.timedelta(days=1))
    assert raised["sla.breached:first_response"] == 1
    # An agent's reply: one message out.
    conversation_services.message_send(conversation=conversation, author=agent, body="Olá!")
    # Deliveries: one in-app sent, one email that fails (nothing listens on the port) and is retried.
    [in_app] = notification_services.notify(
        organization=tenant_a.org,
        event_type="custom",
        recipients=[tenant_a.admin],
        channels=["in_app"],
        context={"title": "Hi", "body": "there"},
    )
    assert notification_services.notification_deliver(log_id=in_app.pk).status == "sent"
    [email] = notification_services.notify(
        organization=tenant_a.org,
        event_type="conversation_assigned",
        recipients=[tenant_a.agent],
        channels=["email"],
        context={"contact_name": "Ana", "conversation_id": 1, "conversation_url": "http://x.test/inbox/1/"},
    )
    assert notification_services.notification_deliver(log_id=email.pk).status == "pending"
    # Database state: the retried email waits in the outbox; the agent goes online.
    account_services.agent_set_status(membership=agent, status="online")

    after = scrape()
    http = "pytake_http_request_duration_seconds_count"
    assert value(after, http, view="inbox:index", method="GET", status="200") == 1 + value(
        before, http, view="inbox:index", method="GET", status="200"
    )
    assert value(after, http, view="<unresolved>", method="GET", status="404") >= 1 + value(
        before, http, view="<unresolved>", method="GET", status="404"
    )
    webhook = {"view": "conversations:whatsapp-webhook", "method": "POST", "status": "200"}
    assert value(after, http, **webhook) == 1 + value(before, http, **webhook)
    assert not any("/no/such/page/" in dict(labels).get("view", "") for (_n, labels) in after)

    assert value(after, "pytake_messages_total", direction="in") == 1 + value(
        before, "pytake_messages_total", direction="in"
    )
    assert value(after, "pytake_messages_total", direction="out") == 1 + value(
        before, "pytake_messages_total", direction="out"
    )
    for event in ("warning", "breached"):
        for kind in ("first_response", "resolution"):
            name = "pytake_sla_events_total"
            assert value(after, name, event=event, kind=kind) == 1 + value(before, name, event=event, kind=kind)

    delivered = "pytake_notification_delivery_seconds_count"
    assert value(after, delivered, channel="in_app") == 1 + value(before, delivered, channel="in_app")
    failures = "pytake_notification_failures_total"
    assert value(after, failures, channel="email", outcome="retry") == 1 + value(
        before, failures, channel="email", outcome="retry"
    )
    waiting = NotificationLog.objects.filter(status="pending", channel="email")
    assert email.pk in set(waiting.values_list("pk", flat=True))
    assert value(after, "pytake_outbox_rows", status="pending", channel="email") == waiting.count()
    retried = sum(waiting.values_list("retry_count", flat=True))
    assert retried >= 1 and value(after, "pytake_outbox_retries", channel="email") == retried
    assert value(after, "pytake_agents", status="online") == 1 + value(before, "pytake_agents", status="online")


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: connections are refused


@pytest.mark.django_db
def test_loopback_may_scrape_by_default_and_other_addresses_get_404():
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="not-an-address").status_code == 404


@pytest.mark.django_db
@override_settings(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "2001:db8::/32"])
def test_allowed_networks_are_cidrs():
    assert Client().get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="2001:db8::5").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="11.0.0.1").status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="s3cret-token", METRICS_ALLOWED_NETWORKS=[])
def test_a_bearer_token_opens_metrics_from_anywhere_and_a_wrong_one_is_403():
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **outside).status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **outside).status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token", **outside).status_code == 403
    assert Client().get("/metrics", **outside).status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_scrapers_on_plain_http_are_not_redirected_to_https():
    assert Client().get("/metrics").status_code == 200
    assert Client().get("/accounts/login/").status_code == 301  # everything else still is


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="")
def test_no_token_configured_means_no_token_is_accepted():
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403


@pytest.mark.slow
def test_processes_add_up_in_multiprocess_mode(transactional_db, tmp_path, monkeypatch):
    """A Daphne process scrapes what another process (a worker, say) counted in the shared directory."""
    from tests.inbox.live import Daphne

    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    server = Daphne("metrics-multiprocess").start()
    try:
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); from pytake import metrics; "
                "[metrics.observe_delivery(channel='sms', seconds=s) for s in (0.2, 3, 40)]",
            ],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 0, other.stderr
        for _ in range(2):
            urllib.request.urlopen(f"{server.url}/accounts/login/", timeout=10).read()
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            samples = _samples(response.read().decode())
    finally:
        server.stop()
    assert value(samples, "pytake_notification_delivery_seconds_count", channel="sms") == 3
    assert value(samples, "pytake_notification_delivery_seconds_bucket", channel="sms", le="1.0") == 1
    logins = value(
        samples, "pytake_http_request_duration_seconds_count", view="accounts:login", method="GET", status="200"
    )
    assert logins >= 2  # Daphne's start-up probe plus the two requests above
    assert any(name.endswith(".db") for name in os.listdir(metrics_dir))
