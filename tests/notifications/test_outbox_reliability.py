"""The one outbox under crashes, with real worker processes, counted where the messages arrive.

Contacts are reached over WhatsApp — agent replies (``message_send``, transport
``conversations.message``) and template messages (``outbox_enqueue``, transport ``whatsapp.direct``)
— at a local Graph API server (``tests/notifications/graph_server.py``) that counts a message once
its request body has arrived; staff get emails (``notify``) at a real SMTP server that counts
``Message-ID``s. Each WhatsApp message carries a ``[m:<n>]`` marker, each email its row's id.

The relay runs in this process every ``RELAY_PERIOD`` seconds, as Beat runs it
(``tests/notifications/beat.py``); the workers take a ``LEASE`` of the same length, so a dead
worker's claim is noticed within two relay periods. Delivery is at-least-once (see
``notifications/services/outbox.py``): a kill may duplicate the sends that had reached the provider
but were not recorded yet — at most one per pool process — and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
import redis
from django.conf import settings
from django.db import transaction

from accounts.roles import Role
from conversations import services as conversation_services
from conversations.message_templates import template_render
from conversations.models import DeliveryStatus, Message
from notifications import services
from notifications.models import NotificationLog, Status
from tests import factories
from tests.conversations import factories as cf
from tests.notifications import factories as nf
from tests.notifications.beat import Relay
from tests.notifications.graph_server import GraphServer
from tests.notifications.worker import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RELAY_PERIOD = 2.0  # seconds between relay runs, as Beat's schedule would have it
LEASE = 2  # NOTIFICATIONS_SENDING_LEASE_SECONDS of the workers (an int setting): the relay period
RELAY_AFTER = 10  # NOTIFICATIONS_RELAY_AFTER_SECONDS: a pending row whose task is this old is published again
CONCURRENCY = 4
WABA = "104996675854313"


@pytest.fixture
def graph():
    with GraphServer() as server:
        yield server


@pytest.fixture
def outbox_settings(settings):
    """This process's relay uses the same thresholds as the workers' environment."""
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = LEASE
    settings.NOTIFICATIONS_RELAY_AFTER_SECONDS = RELAY_AFTER
    return settings


def _worker_env(graph: GraphServer) -> dict:
    return {
        "WHATSAPP_GRAPH_BASE_URL": graph.base_url,
        "WHATSAPP_HTTP_TIMEOUT": "60",  # longer than any hold: a held send ends by the kill, not a timeout
        "NOTIFICATIONS_SENDING_LEASE_SECONDS": str(LEASE),
        "NOTIFICATIONS_RELAY_AFTER_SECONDS": str(RELAY_AFTER),
    }


@dataclass
class World:
    org: object
    staff: list
    agent: object
    channel: object
    template: object
    conversations: list
    markers: dict[int, int] = field(default_factory=dict)  # marker → outbox row id
    emails: list[int] = field(default_factory=list)  # outbox row ids of staff emails

    _next_marker: int = 0

    def marker(self) -> int:
        self._next_marker += 1
        return self._next_marker

    def reply(self, conversation) -> int:
        """An agent's reply through ``message_send`` (the ``conversations.message`` transport)."""
        n = self.marker()
        message = conversation_services.message_send(
            conversation=conversation, author=self.agent, body=f"Obrigado pelo contato! [m:{n}]"
        )
        self.markers[n] = cf.outbox_row(message).pk
        return n

    def template_message(self, conversation) -> int:
        """A template sent straight to a contact (the ``whatsapp.direct`` transport), as reminders are."""
        n = self.marker()
        contact = conversation.contact
        rendered = template_render(
            template=self.template, values={"body.1": f"{contact.name} [m:{n}]", "body.2": "amanhã às 10h"}
        )
        with transaction.atomic():
            row, _ = services.outbox_enqueue(
                organization=self.org,
                event_type="appointment_reminder",
                channel="whatsapp",
                recipient=contact.phone,
                contact_id=contact.pk,
                transport="whatsapp.direct",
                payload={
                    "channel_id": self.channel.pk,
                    "message": {"type": "template", "template": rendered.graph_template},
                },
                message=rendered.text,
            )
        self.markers[n] = row.pk
        return n

    def email(self, users, title: str) -> list[int]:
        rows = services.notify(
            organization=self.org, event_type="custom", recipients=users, channels=["email"], context={"title": title}
        )
        self.emails += [r.pk for r in rows]
        return [r.pk for r in rows]

    @property
    def row_ids(self) -> list[int]:
        return [*self.markers.values(), *self.emails]


def _world(*, staff: int, conversations: int) -> World:
    org, users = nf.staff_organization(staff)
    channel = cf.channel(org, business_account_id=WABA)
    draft = cf.whatsapp_template(org, channel)
    [template] = conversation_services.template_status_update(
        channel=channel, business_account_id=WABA, event="APPROVED", name=draft.name, language=draft.language
    )
    return World(
        org=org,
        staff=users,
        agent=factories.member(org, Role.AGENT),
        channel=channel,
        template=template,
        conversations=[cf.conversation(org, channel=channel) for _ in range(conversations)],
    )


def _email_id(row_id: int) -> str:
    return f"<notification-{row_id}@pytake.notifications>"


def _copies(world: World, graph: GraphServer, smtp) -> dict[int, int]:
    """How many times each outbox row of ``world`` reached its provider."""
    markers, emails = graph.markers(), smtp.handler.message_ids()
    return {
        **{row_id: markers.get(n, 0) for n, row_id in world.markers.items()},
        **{row_id: emails.get(_email_id(row_id), 0) for row_id in world.emails},
    }


def _sending(ids) -> set[int]:
    return set(NotificationLog.objects.filter(pk__in=ids, status=Status.SENDING).values_list("pk", flat=True))


def _sent(ids) -> int:
    return NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count()


def test_a_thousand_mixed_rows_survive_two_kills_and_a_redis_flush(graph, smtp, workers, outbox_settings):
    world = _world(staff=7, conversations=50)
    for n in range(50):  # 50 rounds of 7 replies, 6 template messages and 7 emails: 1,000 rows, interleaved
        for i in range(7):
            world.reply(world.conversations[(n * 7 + i) % 50])
        for i in range(6):
            world.template_message(world.conversations[(n * 6 + i) % 50])
        world.email(world.staff, f"Round {n}")
    ids = world.row_ids
    assert (len(world.markers), len(world.emails)) == (650, 350)
    assert NotificationLog.objects.filter(pk__in=ids, status=Status.PENDING).count() == 1000
    env = _worker_env(graph)

    with Relay(period=RELAY_PERIOD) as relay:
        # Kill 1, the worst moment: every pool process is inside a Graph request the server has
        # already received (and may be delivering) but not answered.
        graph.hold_after(250)
        first = workers(concurrency=CONCURRENCY, **env)
        wait_until(lambda: graph.held >= CONCURRENCY, timeout=60, what="every pool process held in a Graph request")
        in_flight = _sending(ids)
        assert len(in_flight) == CONCURRENCY
        # The workers renew their leases while they wait: two relay runs later, with the first
        # lease long over, nobody has taken these rows from their living senders.
        held_since = time.monotonic()
        wait_until(lambda: relay.runs_after(held_since + LEASE) >= 2, timeout=30, what="two relay runs")
        assert _sending(ids) == in_flight and relay.total("reclaimed") == 0
        assert graph.count == 250 + CONCURRENCY
        first.kill()
        killed = [_sending(ids)]
        graph.release()
        assert killed[0] == in_flight

        second = workers(concurrency=CONCURRENCY, **env)
        wait_until(lambda: _sent(ids) >= 500, timeout=60, what="half of the rows sent")
        broker = redis.Redis.from_url(settings.REDIS_URL)
        queued = broker.llen(f"{settings.REDIS_KEY_PREFIX}:celery:{settings.CELERY_TASK_DEFAULT_QUEUE}")
        broker.flushdb()  # the broker loses every queued task (our Redis database only)
        flushed_at = _sent(ids)
        assert queued > 0, "the flush should have destroyed queued tasks"

        # Kill 2, at an ordinary moment of the run.
        wait_until(lambda: _sent(ids) >= 750, timeout=60, what="three quarters of the rows sent")
        second.kill()
        killed.append(_sending(ids))

        workers(concurrency=CONCURRENCY, **env)
        wait_until(lambda: _sent(ids) == len(ids), timeout=80, what="every row sent", interval=0.25)
    assert not relay.errors

    copies = _copies(world, graph, smtp)
    lost = [row_id for row_id, count in copies.items() if count == 0]
    duplicates = {row_id: count - 1 for row_id, count in copies.items() if count > 1}
    by_kill = [{row_id: duplicates[row_id] for row_id in rows if row_id in duplicates} for rows in killed]
    print(
        f"\n1,000 rows (650 WhatsApp: 350 replies + 300 templates; 350 emails), {CONCURRENCY} pool processes, "
        f"relay every {RELAY_PERIOD:g} s, lease {LEASE} s, Redis flushed at {flushed_at} sent "
        f"({queued} queued tasks lost):\n"
        f"  kill 1 (all {CONCURRENCY} pool processes inside a received, unanswered Graph request): "
        f"{len(killed[0])} rows left sending, {sum(by_kill[0].values())} duplicate sends\n"
        f"  kill 2 (an ordinary moment): {len(killed[1])} rows left sending, {sum(by_kill[1].values())} duplicate sends\n"
        f"  lost: {len(lost)}; duplicates in all: {sum(duplicates.values())}; relay: "
        f"{relay.total('reclaimed')} stale claims recovered, {relay.total('requeued')} pending rows re-published "
        f"in {len(relay.runs)} runs"
    )
    assert not lost, f"{len(lost)} rows never reached their provider, e.g. {lost[:5]}"
    assert NotificationLog.objects.filter(pk__in=ids).exclude(status=Status.SENT).count() == 0
    # A duplicate comes only from a row a dead worker left in flight, once per kill it was in flight for.
    unexplained = {row_id for row_id in duplicates if not any(row_id in rows for rows in killed)}
    assert not unexplained, f"duplicates that no kill explains: {sorted(unexplained)[:5]}"
    for row_id, extra in duplicates.items():
        assert extra <= sum(row_id in rows for rows in killed)
    for rows, caused in zip(killed, by_kill, strict=True):
        assert len(rows) <= CONCURRENCY and sum(caused.values()) <= CONCURRENCY
    # Kill 1's rows had all reached the Graph server: each was sent again, and counted as a retry.
    assert set(by_kill[0]) == killed[0]
    assert all(r.retry_count >= 1 for r in NotificationLog.objects.filter(pk__in=killed[0] | killed[1]))
    replies = Message.objects.filter(conversation__organization=world.org, author_type="agent")
    assert replies.count() == 350 and not replies.exclude(delivery_status=DeliveryStatus.SENT).exists()


def test_a_claim_left_sending_by_a_killed_worker_is_sent_again_within_two_relay_periods(
    graph, workers, outbox_settings
):
    world = _world(staff=1, conversations=1)
    env = _worker_env(graph)
    graph.hold_after(0, limit=1)  # the first request stays unanswered: the worker dies inside it
    with Relay(period=RELAY_PERIOD) as relay:
        stuck = workers(concurrency=1, prefetch_multiplier=1, **env)
        marker = world.template_message(world.conversations[0])
        row_id = world.markers[marker]
        wait_until(lambda: graph.held == 1, timeout=60, what="the send to reach the Graph server")
        # A second worker, ready: it delivers a probe while the first is busy (a prefetch of one
        # keeps the first from reserving it).
        workers(concurrency=1, prefetch_multiplier=1, **env)
        probe = world.reply(world.conversations[0])
        wait_until(lambda: _sent([world.markers[probe]]) == 1, timeout=60, what="the second worker to deliver")
        # Alive, the first worker renews its lease: relay runs past the first lease take nothing.
        held_since = time.monotonic()
        wait_until(lambda: relay.runs_after(held_since + LEASE) >= 2, timeout=30, what="two relay runs")
        assert _sending([row_id]) == {row_id} and len(graph.arrivals(marker)) == 1

        stuck.kill()
        killed_at = time.monotonic()
        graph.release()
        wait_until(lambda: len(graph.arrivals(marker)) == 2, timeout=60, what="the stuck row to be sent again")
        recovered_in = graph.arrivals(marker)[1] - killed_at
        wait_until(lambda: _sent([row_id]) == 1, timeout=30, what="the resend recorded")

    # Protocol rounds: the lease (one relay period) runs out unrenewed, the next relay run
    # re-publishes the row, the living worker sends it. Slack: that publication and pickup.
    slack = RELAY_PERIOD
    print(
        f"\nstuck claim: killed → sent again in {recovered_in:.2f} s "
        f"(relay period {RELAY_PERIOD:g} s, lease {LEASE} s, bound {2 * RELAY_PERIOD + slack:g} s)"
    )
    assert recovered_in <= 2 * RELAY_PERIOD + slack
    row = NotificationLog.objects.get(pk=row_id)
    assert row.retry_count == 1  # the lost attempt counts as a retry (its error is cleared by the success)
    assert relay.total("reclaimed") == 1


def test_a_rolled_back_action_sends_nothing(graph, smtp, workers, outbox_settings):
    world = _world(staff=2, conversations=1)
    conversation = world.conversations[0]
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            world.reply(conversation)
            world.template_message(conversation)
            world.email(world.staff, "ROLLED BACK")
            raise RuntimeError("the action failed after queueing its messages")
    rolled_back = dict(world.markers)
    assert not NotificationLog.objects.filter(pk__in=[*rolled_back.values(), *world.emails]).exists()
    world.markers.clear()
    world.emails.clear()
    # Committed afterwards: one worker with one pool process runs tasks in publication order, so
    # anything the rolled-back block had published would reach the servers before these.
    world.reply(conversation)
    world.template_message(conversation)
    world.email(world.staff, "Committed")
    workers(concurrency=1, prefetch_multiplier=1, **_worker_env(graph))
    wait_until(lambda: _sent(world.row_ids) == 4, timeout=60, what="the committed messages sent")
    result = services.notification_relay(relay_after=0)
    assert (result.requeued, result.reclaimed) == (0, 0)  # nothing is left for a relay to find

    assert graph.count == 2 and set(graph.markers()) == set(world.markers)
    assert not set(graph.markers()) & set(rolled_back)
    subjects = [m["Subject"] or "" for m in smtp.handler.messages]
    assert len(subjects) == 2 and not any("ROLLED BACK" in s for s in subjects)
    assert not Message.objects.filter(body__contains=f"[m:{min(rolled_back)}]").exists()
