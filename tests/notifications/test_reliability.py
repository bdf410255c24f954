"""Exactly-once email delivery with real worker processes, a real SMTP server and real Redis.

Each email carries ``Message-ID: <notification-<row id>@…>``: the SMTP server's log tells which
rows arrived and how many times. Every test asserts each committed notification arrived exactly
once (no duplicates, no losses) and that nothing of a rolled-back transaction was sent.
"""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.db import transaction

from notifications import services
from notifications.models import NotificationLog, Status
from tests.notifications import factories as nf
from tests.notifications.worker import settled, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _enqueue(org, users, rounds: int) -> list[int]:
    ids = []
    for n in range(rounds):
        rows = services.notify(
            organization=org, event_type="custom", recipients=users, channels=["email"], context={"title": f"Round {n}"}
        )
        ids += [r.pk for r in rows]
    assert {r.status for r in NotificationLog.objects.filter(pk__in=ids)} == {Status.PENDING}
    return ids


def _expected_message_ids(ids):
    return {f"<notification-{pk}@pytake.notifications>" for pk in ids}


def _assert_exactly_once(smtp, ids):
    received = smtp.handler.message_ids()
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    assert not duplicates, f"sent twice: {list(duplicates)[:5]}"
    missing = _expected_message_ids(ids) - set(received)
    assert not missing, f"{len(missing)} never arrived, e.g. {sorted(missing)[:5]}"
    assert set(received) == _expected_message_ids(ids)
    assert NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids)


def test_worker_killed_mid_batch_each_email_exactly_once(smtp, workers):
    org, users = nf.staff_organization(20)
    ids = _enqueue(org, users, rounds=50)  # 1,000 emails, tasks published on commit
    assert len(ids) == 1000

    # Hold the 400th email unaccepted (as a slow server would) so that the kill lands while the
    # pool is mid-send: rows claimed ('sending'), their SMTP transactions open.
    smtp.handler.hold_at = 400
    first = workers()
    wait_until(smtp.handler.held.is_set, timeout=60, what="the worker to reach the 400th email")
    time.sleep(0.5)  # every pool process now waits inside an SMTP DATA
    first.kill()
    smtp.handler.release.set()  # the held transactions are refused: those emails were not sent
    sending = NotificationLog.objects.filter(pk__in=ids, status=Status.SENDING).count()
    assert 1 <= sending <= first.concurrency
    assert len(smtp.handler.messages) == 400

    workers()  # restarted: takes the remaining queued tasks
    counts = wait_until(settled(ids), timeout=60, what="the restarted worker to drain the queue")
    assert counts[Status.SENDING] == sending  # claimed by the dead worker: nobody else sends them
    # The relay (Beat) finds the stale claims after the lease and queued tasks that were lost
    # with the dead worker's prefetch, and queues them again.
    result = services.notification_relay(relay_after=1, lease=1)
    assert result.reclaimed == sending
    wait_until(
        lambda: NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids),
        timeout=60,
        what="all sent",
    )
    _assert_exactly_once(smtp, ids)
    assert NotificationLog.objects.filter(pk__in=ids, retry_count=1).count() == sending


def test_redis_flushed_mid_run_the_relay_resends_what_was_lost(smtp, workers):
    org, users = nf.staff_organization(10)
    ids = _enqueue(org, users, rounds=40)  # 400 emails
    workers()
    wait_until(lambda: len(smtp.handler.messages) >= 100, timeout=60, what="100 emails delivered")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()  # the broker loses every queued task (our own Redis database only)
    counts = wait_until(settled(ids), timeout=60, what="the worker to run out of tasks")
    assert counts[Status.PENDING] > 0, "the flush should have lost queued tasks"
    time.sleep(1.1)
    result = services.notification_relay(relay_after=1, lease=60)
    assert result.requeued == counts[Status.PENDING]
    wait_until(
        lambda: NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids),
        timeout=60,
        what="all sent",
    )
    _assert_exactly_once(smtp, ids)


def test_rolled_back_transaction_sends_nothing_and_committed_one_is_sent(smtp, workers):
    org, users = nf.staff_organization(3)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.notify(
                organization=org,
                event_type="custom",
                recipients=users,
                channels=["email"],
                context={"title": "ROLLED BACK"},
            )
            raise RuntimeError("the action failed after notifying")
    committed = _enqueue(org, users, rounds=1)
    workers()
    wait_until(
        lambda: NotificationLog.objects.filter(pk__in=committed, status=Status.SENT).count() == 3,
        timeout=60,
        what="committed ones sent",
    )
    services.notification_relay(relay_after=0, lease=60)  # nothing else exists to relay
    time.sleep(1)
    assert not any("ROLLED BACK" in (m["Subject"] or "") for m in smtp.handler.messages)
    assert not NotificationLog.objects.filter(subject="ROLLED BACK").exists()
    _assert_exactly_once(smtp, committed)


def test_smtp_outage_then_recovery_delivers_each_once_with_retries(smtp, workers):
    org, users = nf.staff_organization(5)
    smtp.handler.refuse_next = 12  # the server refuses the first 12 attempts (an outage)
    ids = _enqueue(org, users, rounds=4)  # 20 emails
    workers()
    wait_until(
        lambda: NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids),
        timeout=60,
        what="all sent",
    )
    _assert_exactly_once(smtp, ids)
    assert smtp.handler.refused == 12
    assert sum(NotificationLog.objects.filter(pk__in=ids).values_list("retry_count", flat=True)) == 12
