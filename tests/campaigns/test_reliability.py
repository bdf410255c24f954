"""A campaign sent by a real Celery worker to a local Graph API server that counts every request,
with the worker SIGKILLed twice and the campaign paused and resumed once: every recipient is
messaged, none lost; duplicates are counted (the outbox's at-least-once window: a row whose worker
died between the provider's answer and the record is sent again by the relay).

The audience size defaults to 1,000 to stay well under 90 s on a shared 2-core machine
(``CAMPAIGN_RELIABILITY_RECIPIENTS=5000`` runs the issue's figure).
"""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings

from conversations.campaigns import services
from conversations.campaigns.models import CampaignRecipient, CampaignStatus, MessagingTier, RecipientStatus
from conversations.models import Contact
from notifications import services as notification_services
from notifications.models import NotificationLog, Status
from tests import factories
from tests.browser import database_url_for_tests
from tests.campaigns import builders as b
from tests.conversations import factories as cf
from tests.notifications.worker import Worker, wait_until, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RECIPIENTS = int(os.environ.get("CAMPAIGN_RELIABILITY_RECIPIENTS", "1000"))


@pytest.fixture
def env(threaded_graph):
    return worker_env(
        database_url=database_url_for_tests(),
        redis_url=settings.REDIS_URL,
        key_prefix=settings.REDIS_KEY_PREFIX,
        smtp_port=9,
        WHATSAPP_GRAPH_BASE_URL=threaded_graph.httpserver.url_for("/v21.0"),
        NOTIFICATIONS_SENDING_LEASE_SECONDS="3",
    )


@pytest.fixture
def workers(env):
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(env, concurrency=4).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _audience(org, n: int) -> list[Contact]:
    """Test data in bulk (creating 5,000 contacts one by one through the service is not under test)."""
    rows = [
        Contact(organization=org, name=f"Cliente {i}", phone=f"+55119{i + 60000000:08d}", marketing_opt_in=True)
        for i in range(n)
    ]
    return Contact.objects.bulk_create(rows)


_last_relay = [0.0]


def _beat():
    """What Beat runs, on a compressed clock: the campaign tick, and every 3 s the outbox relay
    (rows queued 10 s ago and never sent are published again; sends whose 3 s lease ran out unrenewed,
    i.e. whose worker died, are taken back)."""
    services.campaigns_tick()
    if time.monotonic() - _last_relay[0] >= 3:
        notification_services.notification_relay(relay_after=10)
        _last_relay[0] = time.monotonic()


def _sent(graph) -> int:
    with graph.lock:
        return sum(graph.sent.values())


def _state() -> str:
    """Where things stand, for a failure message."""
    from django.db.models import Count

    recipients = dict(CampaignRecipient.objects.values_list("status").annotate(n=Count("id")))
    rows = dict(NotificationLog.objects.values_list("status").annotate(n=Count("id")))
    campaigns = list(CampaignRecipient.objects.values_list("campaign__status", "campaign__waiting_for").distinct())
    return f"recipients {recipients}, outbox {rows}, campaign {campaigns}"


def _drive_until(condition, *, timeout: float, what: str):
    def step():
        _beat()
        return condition()

    try:
        return wait_until(step, timeout=timeout, what=what, interval=0.5)
    except AssertionError as error:
        raise AssertionError(f"{error}: {_state()}") from None


def test_workers_killed_twice_and_a_pause_lose_nobody(threaded_graph, workers, settings):
    graph = threaded_graph
    settings.CAMPAIGNS_WAKE_GRACE_SECONDS = 1
    org = factories.organization(plan="enterprise")
    channel = cf.channel(org)
    services.channel_tier_set(channel=channel, messaging_tier=MessagingTier.UNLIMITED)
    contacts = _audience(org, RECIPIENTS)
    admin = factories.member(org, "org_admin").user
    campaign = b.campaign(org, admin, channel=channel, category="utility")
    started = time.monotonic()
    services.campaign_start(campaign=campaign, by=admin)  # the dispatch task is published on commit
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()  # the worker lists the audience

    first = workers()
    wait_until(lambda: _sent(graph) >= RECIPIENTS // 5, timeout=60, what="a fifth sent")
    first.kill()
    lost_in_flight = NotificationLog.objects.filter(metadata__campaign_id=campaign.pk, status=Status.SENDING).count()

    second = workers()
    _drive_until(lambda: _sent(graph) >= RECIPIENTS // 2, timeout=60, what="half sent after the first kill")
    second.kill()
    lost_in_flight += NotificationLog.objects.filter(metadata__campaign_id=campaign.pk, status=Status.SENDING).count()

    workers()
    _drive_until(lambda: _sent(graph) >= (RECIPIENTS * 3) // 5, timeout=60, what="three fifths sent")
    services.campaign_pause(campaign=campaign, by=admin)
    at_pause = _sent(graph)
    previous = None

    def settled():
        nonlocal previous
        now = _sent(graph)
        stable, previous = now == previous, now
        return stable

    _drive_until(settled, timeout=30, what="the paused campaign to stop sending")
    after_pause = _sent(graph) - at_pause
    assert after_pause <= settings.CAMPAIGNS_MAX_IN_FLIGHT, f"{after_pause} sent after the pause"
    assert CampaignRecipient.objects.filter(campaign=campaign, status=RecipientStatus.QUEUED).exists()

    services.campaign_resume(campaign=campaign, by=admin)
    _drive_until(
        lambda: campaign.__class__.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
        timeout=150,
        what="the campaign to complete",
    )
    elapsed = time.monotonic() - started

    expected = {c.phone.lstrip("+") for c in contacts}
    with graph.lock:
        received = dict(graph.sent)
    missing = expected - set(received)
    duplicates = {phone: n for phone, n in received.items() if n > 1}
    print(
        f"\n{RECIPIENTS} recipients in {elapsed:.1f}s: {len(received)} messaged, {len(missing)} lost, "
        f"{sum(n - 1 for n in duplicates.values())} duplicates ({lost_in_flight} rows were mid-send at the kills), "
        f"{after_pause} sent after the pause"
    )
    assert not missing, f"{len(missing)} recipients never messaged"
    assert set(received) == expected
    # Duplicates only from rows a killed worker was sending (the outbox's unavoidable window).
    assert sum(n - 1 for n in duplicates.values()) <= lost_in_flight
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert rows.filter(status=RecipientStatus.SENT).count() == RECIPIENTS
    assert NotificationLog.objects.filter(metadata__campaign_id=campaign.pk).count() == RECIPIENTS
