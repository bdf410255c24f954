"""The one outbox: rows for contacts, dedupe under concurrency, leases renewed while sending, recovery."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from notifications import services
from notifications.models import NotificationLog, Status

pytestmark = pytest.mark.django_db


def _enqueue(org, **fields):
    values = {
        "organization": org,
        "event_type": "conversation_message",
        "channel": "whatsapp",
        "recipient": "+5511987654321",
        "contact_id": 7,
        "transport": "whatsapp.direct",
        "payload": {"channel_id": 0, "message": {"type": "text", "text": {"body": "x"}}},
    }
    values.update(fields)
    return services.outbox_enqueue(**values)


def test_a_contact_row_has_no_user_and_a_dedupe_key_writes_it_once(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        row, created = _enqueue(tenant_a.org, dedupe_key="k-1")
        again, created_again = _enqueue(tenant_a.org, dedupe_key="k-1", recipient="+5511000000000")
    assert created and not created_again and again.pk == row.pk and again.recipient == "+5511987654321"
    assert row.user_id is None and row.recipient_contact_id == 7 and row.status == Status.PENDING
    assert len(callbacks) == 1  # one delivery task, published after the commit
    assert NotificationLog.objects.filter(dedupe_key="k-1").count() == 1


def test_notify_refuses_contact_event_types_and_enqueue_refuses_unknown_ones(tenant_a):
    with pytest.raises(ValueError, match="outbox_enqueue"):
        services.notify(organization=tenant_a.org, event_type="conversation_message", recipients=[tenant_a.admin])
    with pytest.raises(ValueError, match="unknown notification event type"):
        _enqueue(tenant_a.org, event_type="nope")


def test_an_unknown_transport_fails_the_row_permanently(tenant_a):
    row, _ = _enqueue(tenant_a.org, transport="nobody.here")
    assert services.notification_deliver(log_id=row.pk).status == Status.FAILED
    row.refresh_from_db()
    assert "no transport is registered" in row.error and row.retry_count == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_enqueues_of_one_key_write_one_row(tenant_a):
    barrier, results = threading.Barrier(4), []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(_enqueue(tenant_a.org, dedupe_key="race-1")[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    assert NotificationLog.objects.filter(dedupe_key="race-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_lease_keeper_renews_rows_in_flight_and_the_relay_recovers_unrenewed_ones(tenant_a, settings):
    settings.NOTIFICATIONS_SENDING_LEASE_SECONDS = 30
    alive, _ = _enqueue(tenant_a.org, dedupe_key="alive")
    dead, _ = _enqueue(tenant_a.org, dedupe_key="dead")
    long_ago = timezone.now() - datetime.timedelta(minutes=5)
    NotificationLog.objects.filter(pk__in=[alive.pk, dead.pk]).update(
        status=Status.SENDING, claimed_at=long_ago, lease_until=long_ago + datetime.timedelta(seconds=30)
    )
    services.lease_keeper.hold(alive.pk, long_ago)  # this process is still sending "alive"
    try:
        assert services.lease_keeper.renew() == 1
    finally:
        services.lease_keeper.release(alive.pk)
    alive.refresh_from_db()
    assert alive.lease_until > timezone.now() + datetime.timedelta(seconds=20)
    result = services.notification_relay()
    assert result.reclaimed == 1
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == Status.PENDING and dead.retry_count == 1 and "lease expired" in dead.error
    assert alive.status == Status.SENDING  # renewed: its sender is alive, nobody else sends it


def test_the_default_lease_is_the_relay_period_so_a_dead_send_is_noticed_within_two_periods(settings):
    from django.conf import settings as live

    assert live.NOTIFICATIONS_SENDING_LEASE_SECONDS <= live.NOTIFICATIONS_RELAY_EVERY_SECONDS


def test_provider_statuses_move_contact_rows_forward_only_in_their_organization(tenant_a, tenant_b):
    row, _ = _enqueue(tenant_a.org, dedupe_key="st")
    NotificationLog.objects.filter(pk=row.pk).update(status=Status.SENT, provider_message_id="wamid.st")
    assert (
        services.outbox_provider_status(organization=tenant_b.org, provider_message_id="wamid.st", status="read") == 0
    )
    services.outbox_provider_status(organization=tenant_a.org, provider_message_id="wamid.st", status="read")
    services.outbox_provider_status(organization=tenant_a.org, provider_message_id="wamid.st", status="delivered")
    row.refresh_from_db()
    assert row.status == Status.READ and row.read_at and row.delivered_at
