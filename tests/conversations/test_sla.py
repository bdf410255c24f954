"""SLA: due times in business time, warning at the configured share, breach; each raised once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import BusinessHours, Holiday
from conversations import services, sla
from conversations.business_hours import add_business_minutes
from conversations.models import Conversation
from tests import factories
from tests.conversations import factories as cf

UTC = dt.UTC


def _office_hours(org, *, holidays=()):
    for weekday in range(5):
        BusinessHours.objects.create(organization=org, weekday=weekday, start=dt.time(9), end=dt.time(18))
    for day in holidays:
        Holiday.objects.create(organization=org, date=day, name="Holiday")


@pytest.mark.django_db
def test_schedule_comes_from_the_organization(tenant_a):
    tenant_a.org.time_zone = "America/New_York"
    tenant_a.org.save()
    _office_hours(tenant_a.org, holidays=[dt.date(2026, 3, 9)])
    schedule = sla.schedule_for(tenant_a.org)
    assert schedule.tz == ZoneInfo("America/New_York")
    assert schedule.windows[0] == ((dt.time(9), dt.time(18)),) and 5 not in schedule.windows
    # Friday 17:00 EST before the DST weekend, Monday a holiday: 120 min end Tuesday 10:00 EDT.
    friday = dt.datetime(2026, 3, 6, 17, 0, tzinfo=ZoneInfo("America/New_York"))
    target = sla.target(friday, 120, 80, schedule)
    assert target.due_at == dt.datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert target.warning_at == dt.datetime(2026, 3, 10, 13, 36, tzinfo=UTC)  # 96 minutes: 60 Fri + 36 Tue


@pytest.mark.django_db
def test_conversation_due_times_use_queue_targets_and_business_hours(tenant_a):
    _office_hours(tenant_a.org)
    queue = factories.queue(
        tenant_a.org,
        routing_strategy="manual",
        sla_first_response_minutes=30,
        sla_resolution_minutes=600,
        sla_warning_percent=50,
    )
    conversation = cf.conversation(tenant_a.org, queue=queue)
    schedule = sla.schedule_for(tenant_a.org)
    start = conversation.sla_started_at
    assert conversation.first_response_due_at == add_business_minutes(start, 30, schedule)
    assert conversation.first_response_warning_at == add_business_minutes(start, 15, schedule)
    assert conversation.resolution_due_at == add_business_minutes(start, 600, schedule)
    assert conversation.resolution_warning_at == add_business_minutes(start, 300, schedule)
    no_targets = cf.conversation(tenant_a.org, queue=factories.queue(tenant_a.org, routing_strategy="manual"))
    assert no_targets.first_response_due_at is None and no_targets.resolution_due_at is None


@pytest.fixture
def sla_queue(tenant_a):
    # No business hours configured: calendar time, so due times are predictable from "now".
    return factories.queue(
        tenant_a.org, routing_strategy="manual", sla_first_response_minutes=10, sla_resolution_minutes=100
    )


def _sweep(at, **kwargs):
    return services.sla_sweep(now=at, **kwargs)


@pytest.mark.django_db
def test_warning_then_breach_each_exactly_once(
    tenant_a, sla_queue, recorded_events, django_capture_on_commit_callbacks
):
    agent = cf.online_agent(tenant_a.org, queue=sla_queue)
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    services.conversation_assign(conversation=conversation, membership=agent)
    start = conversation.sla_started_at
    with django_capture_on_commit_callbacks(execute=True):
        assert sum(_sweep(start + dt.timedelta(minutes=7)).values()) == 0
        assert _sweep(start + dt.timedelta(minutes=8, seconds=1))["sla.warning:first_response"] == 1
        assert sum(_sweep(start + dt.timedelta(minutes=9)).values()) == 0
        assert _sweep(start + dt.timedelta(minutes=11))["sla.breached:first_response"] == 1
        assert sum(_sweep(start + dt.timedelta(minutes=12)).values()) == 0
    sla_events = [e for e in recorded_events if e.name.startswith("sla.")]
    assert [(e.name, e.payload["kind"]) for e in sla_events] == [
        ("sla.warning", "first_response"),
        ("sla.breached", "first_response"),
    ]
    assert sla_events[0].payload == {
        "conversation_id": conversation.pk,
        "kind": "first_response",
        "agent_id": agent.user_id,
        "queue_id": sla_queue.pk,
        "due_at": conversation.first_response_due_at.isoformat(),
    }
    conversation.refresh_from_db()
    assert conversation.first_response_warned_at and conversation.first_response_breached_at


@pytest.mark.django_db
def test_a_late_sweep_raises_warning_and_breach_of_both_kinds(
    tenant_a, sla_queue, recorded_events, django_capture_on_commit_callbacks
):
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    with django_capture_on_commit_callbacks(execute=True):
        raised = _sweep(conversation.sla_started_at + dt.timedelta(days=1))
        again = _sweep(conversation.sla_started_at + dt.timedelta(days=2))
    assert set(raised.values()) == {1} and len(raised) == 4
    assert sum(again.values()) == 0
    assert Counter(e.name for e in recorded_events if e.name.startswith("sla.")) == {
        "sla.warning": 2,
        "sla.breached": 2,
    }


@pytest.mark.django_db
def test_first_agent_reply_stops_the_first_response_clock(tenant_a, sla_queue):
    agent = cf.online_agent(tenant_a.org, queue=sla_queue)
    conversation = cf.conversation(tenant_a.org, queue=sla_queue, channel=cf.channel(tenant_a.org, kind="console"))
    services.message_send(conversation=conversation, author=agent, body="on it")
    raised = _sweep(conversation.sla_started_at + dt.timedelta(days=1))
    assert raised["sla.warning:first_response"] == 0 and raised["sla.breached:first_response"] == 0
    assert raised["sla.breached:resolution"] == 1


@pytest.mark.django_db
def test_closed_conversations_are_not_swept_and_reopen_restarts_resolution(tenant_a, sla_queue):
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    services.conversation_close(conversation=conversation)
    assert sum(_sweep(conversation.sla_started_at + dt.timedelta(days=1)).values()) == 0
    reopened = services.conversation_reopen(conversation=conversation)
    assert reopened.resolution_due_at > conversation.sla_started_at + dt.timedelta(minutes=100)


@pytest.mark.django_db
def test_sweep_reads_due_rows_through_the_partial_indexes(tenant_a, sla_queue):
    """Deterministic, not the planner's choice on a tiny table: thousands of open conversations
    already answered (which every other index, even the active-only ones, would have to read
    through, and the partial index leaves out), ANALYZE (it reads every row of a table this
    small), and sequential scans priced out."""
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    Conversation.objects.bulk_create(  # volume for the planner only
        Conversation(
            organization=tenant_a.org,
            contact=conversation.contact,
            status="open",
            first_response_at=conversation.sla_started_at,
            first_response_due_at=conversation.sla_started_at,
        )
        for _ in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM conversations_conversation WHERE first_response_due_at <= now() "
            "AND first_response_due_at IS NOT NULL AND first_response_breached_at IS NULL AND first_response_at IS NULL "
            "AND status IN ('open', 'pending') ORDER BY first_response_due_at LIMIT 500 FOR UPDATE SKIP LOCKED"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "conv_sla_fr_breach_due" in plan, plan


@pytest.mark.django_db
def test_sla_check_command_runs_one_sweep(tenant_a, sla_queue, capsys):
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_warning_at=timezone.now() - dt.timedelta(minutes=1),
        first_response_due_at=timezone.now() - dt.timedelta(seconds=1),
    )
    call_command("sla_check")
    output = capsys.readouterr().out
    assert "sla.warning first_response: 1" in output and "sla.breached first_response: 1" in output
    call_command("sla_check")
    assert "raised nothing" in capsys.readouterr().out.lower()


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_sweeps_raise_each_event_once(tenant_a, recorded_events):
    queue = factories.queue(
        tenant_a.org, routing_strategy="manual", sla_first_response_minutes=10, sla_resolution_minutes=100
    )
    contacts = [cf.contact(tenant_a.org) for _ in range(120)]
    conversations = [services.conversation_open(contact=c, queue=queue) for c in contacts]
    later = max(c.sla_started_at for c in conversations) + dt.timedelta(days=1)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait()
            results.append(services.sla_sweep(now=later, batch_size=7))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    raised = Counter(
        (e.name, e.payload["kind"], e.payload["conversation_id"]) for e in recorded_events if e.name.startswith("sla.")
    )
    assert len(raised) == 4 * len(conversations)
    assert set(raised.values()) == {1}
    totals = Counter()
    for result in results:
        totals.update(result)
    assert all(count == len(conversations) for count in totals.values()), totals


@pytest.mark.django_db
def test_beat_declares_the_sweep_and_the_task_runs_it(tenant_a, sla_queue):
    from conversations import tasks
    from pytake.periodic import declared_periodic_tasks

    declared = declared_periodic_tasks()["conversations: SLA sweep"]
    assert declared == {"task": "conversations.tasks.sla_sweep", "every": 60}
    assert tasks.sla_sweep.name == declared["task"]
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_warning_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert tasks.sla_sweep()["sla.warning:first_response"] == 1


@pytest.mark.django_db
def test_reopen_and_transfer_never_raise_an_event_twice(tenant_a, sla_queue):
    conversation = cf.conversation(tenant_a.org, queue=sla_queue)
    assert sum(_sweep(conversation.sla_started_at + dt.timedelta(days=1)).values()) == 4
    services.conversation_close(conversation=conversation)
    services.conversation_reopen(conversation=conversation)
    other = factories.queue(
        tenant_a.org, routing_strategy="manual", sla_first_response_minutes=5, sla_resolution_minutes=50
    )
    services.conversation_transfer(conversation=conversation, by=tenant_a.admin, to_queue=other)
    assert sum(_sweep(conversation.sla_started_at + dt.timedelta(days=30)).values()) == 0
