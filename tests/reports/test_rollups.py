"""Rollups kept by the listeners equal a from-scratch computation over the raw rows; the rebuild too."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command

from conversations import services
from conversations.reports import buckets, facts
from conversations.reports.models import DailyRollup
from conversations.reports.services import rollup_add, rollups_rebuild
from tests.reports import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def month():
    world = builders.setup_org()
    builders.play_month(world)
    return world


def test_listener_rollups_equal_a_from_scratch_computation_and_the_rebuild_over_a_month(month):
    live = builders.stored(month.org)
    expected = builders.from_scratch(month.org)
    assert live == expected
    metrics = {key[0] for key in live}
    # The generated month exercises every conversation metric.
    assert set(facts.CONVERSATION_METRICS) <= metrics
    # Reopened conversations were closed twice; late statuses moved messages to read/failed.
    assert sum(v[0] for k, v in live.items() if k[0] == facts.REOPENED) >= 3
    delivery = {k[2] for k in live if k[0] == facts.DELIVERY}
    assert {"read", "delivered"} <= delivery
    # The DST change: 2026-11-01 has 25 local hours, and the messages before and after the jump
    # land on that local day.
    assert any(k[1] == dt.date(2026, 11, 1) and k[0] == facts.MESSAGES_IN for k in live)

    # The rebuild from the raw rows gives the same cells, and running it again changes nothing.
    out = io.StringIO()
    call_command("rebuild_rollups", "--org", month.org.slug, "--from", "2026-10-10", "--to", "2026-11-30", stdout=out)
    assert builders.stored(month.org) == live
    assert "[52/52] 2026-11-30" in out.getvalue()
    assert "Rebuilt 52 day(s)" in out.getvalue()
    ids = set(DailyRollup.objects.filter(organization=month.org).values_list("pk", flat=True))
    call_command(
        "rebuild_rollups", "--org", str(month.org.pk), "--from", "2026-10-10", "--to", "2026-11-30", stdout=out
    )
    assert builders.stored(month.org) == live
    assert DailyRollup.objects.filter(organization=month.org).count() == len(ids)


def test_rebuild_restores_lost_or_corrupted_rows_and_leaves_other_days_alone(month):
    live = builders.stored(month.org)
    days = sorted(set(DailyRollup.objects.filter(organization=month.org).values_list("day", flat=True)))
    lost, corrupted, outside = days[1], days[2], days[-1]
    DailyRollup.objects.filter(organization=month.org, day=lost).delete()
    DailyRollup.objects.filter(organization=month.org, day=corrupted).update(count=999)
    DailyRollup.objects.filter(organization=month.org, day=outside).update(count=555)
    rollups_rebuild(organization=month.org, day_from=lost, day_to=corrupted)
    repaired = {k: v for k, v in builders.stored(month.org).items() if k[1] != outside}
    assert repaired == {k: v for k, v in live.items() if k[1] != outside}
    assert set(DailyRollup.objects.filter(organization=month.org, day=outside).values_list("count", flat=True)) == {555}


def test_rebuild_of_one_organization_does_not_touch_another(month):
    other = builders.setup_org("other")
    with time_machine.travel(builders.local(dt.date(2026, 10, 20), 10), tick=False):
        services.inbound_message_receive(channel=other.channel, phone="+12125550999", body="hello")
    before = builders.stored(other.org)
    assert before
    rollups_rebuild(organization=month.org, day_from=dt.date(2026, 10, 1), day_to=dt.date(2026, 11, 30))
    assert builders.stored(other.org) == before


def test_business_time_first_response_across_a_weekend():
    world = builders.setup_org("weekend")
    friday, monday = dt.date(2026, 11, 6), dt.date(2026, 11, 9)
    with time_machine.travel(builders.local(friday, 16, 50), tick=False):
        conversation = services.inbound_message_receive(
            channel=world.channel, phone="+12125550100", body="hi"
        ).message.conversation
        services.conversation_assign(conversation=conversation, membership=world.agents[0])
    with time_machine.travel(builders.local(monday, 9, 20), tick=False):
        conversation.refresh_from_db()
        services.message_send(conversation=conversation, author=world.agents[0], body="Good morning")
    business = DailyRollup.objects.get(organization=world.org, metric=facts.FIRST_RESPONSE_BUSINESS)
    calendar = DailyRollup.objects.get(organization=world.org, metric=facts.FIRST_RESPONSE)
    # 10 minutes on Friday, 20 on Monday; none over the weekend.
    assert (business.day, business.count, business.total, business.key) == (monday, 1, 1800, buckets.key_of(1800))
    assert business.agent_id == world.agents[0].user_id
    assert calendar.total == (builders.local(monday, 9, 20) - builders.local(friday, 16, 50)).total_seconds()


def test_late_status_lands_on_the_day_the_message_was_sent():
    world = builders.setup_org("late")
    day = dt.date(2026, 10, 20)
    with time_machine.travel(builders.local(day, 10), tick=False):
        conversation = services.inbound_message_receive(
            channel=world.channel, phone="+12125550101", body="hi"
        ).message.conversation
        message = services.message_send(conversation=conversation, author=world.agents[0], body="hello")
    from conversations.models import Message

    Message.objects.filter(pk=message.pk).update(provider_message_id="wamid.late")
    with time_machine.travel(builders.local(day + dt.timedelta(days=4), 8), tick=False):
        services.message_status_update(organization=world.org, provider_message_id="wamid.late", status="read")
    rows = dict(DailyRollup.objects.filter(organization=world.org, metric=facts.DELIVERY).values_list("key", "count"))
    assert rows == {"queued": 0, "read": 1}
    assert set(
        DailyRollup.objects.filter(organization=world.org, metric=facts.DELIVERY).values_list("day", flat=True)
    ) == {day}


def test_a_rolled_back_action_counts_nothing():
    from django.db import transaction

    world = builders.setup_org("rollback")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.inbound_message_receive(channel=world.channel, phone="+12125550102", body="hi")
        raise RuntimeError
    assert not DailyRollup.objects.filter(organization=world.org).exists()


def test_rollup_add_increments_one_cell_in_one_statement(django_assert_num_queries):
    world = builders.setup_org("upsert")
    fact = facts.Fact(world.org.pk, dt.date(2026, 10, 1), facts.OPENED, total=5)
    with django_assert_num_queries(1):
        rollup_add([fact, fact, fact])
    rollup_add([fact])
    row = DailyRollup.objects.get(organization=world.org)
    assert (row.count, row.total) == (4, 20)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--org", "nope", "--from", "2026-01-01", "--to", "2026-01-02"], "No organization"),
        (["--org", "{org}", "--from", "2026-13-01", "--to", "2026-01-02"], "--from must be a date"),
        (["--org", "{org}", "--from", "0001-01-01", "--to", "2026-01-02"], "--from must be between"),
        (["--org", "{org}", "--from", "2026-01-01", "--to", "9999-12-31"], "--to must be between"),
        (["--org", "{org}", "--from", "2026-02-01", "--to", "2026-01-02"], "--from is after --to"),
        (["--org", "{org}", "--from", "2000-01-01", "--to", "2099-01-02"], "At most"),
    ],
)
def test_rebuild_command_refuses_bad_arguments_clearly(args, message):
    world = builders.setup_org("args")
    args = [a.replace("{org}", world.org.slug) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_rollups", *args, stdout=io.StringIO())


def test_percentiles_from_buckets():
    hist = {buckets.bucket_of(s): (0, 0) for s in ()}
    for seconds in (10, 20, 40, 50, 100, 4000):
        b = buckets.bucket_of(seconds)
        count, total = hist.get(b, (0, 0))
        hist[b] = (count + 1, total + seconds)
    median = buckets.percentile(hist, 0.5)
    assert 30 <= median <= 60  # the median lies in the 30–60 s bucket
    assert buckets.percentile({}, 0.5) is None
    assert buckets.percentile({len(buckets.BOUNDS) - 1: (2, 2_000_000)}, 0.5) == 1_000_000


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_of_one_cell_are_all_counted():
    from concurrent.futures import ThreadPoolExecutor

    from django import db
    from django.db import transaction

    world = builders.setup_org("concurrent")
    fact = facts.Fact(world.org.pk, dt.date(2026, 10, 1), facts.MESSAGES_IN, "text", total=2)

    def worker(_n):
        try:
            for _ in range(25):
                with transaction.atomic():
                    rollup_add([fact])
        finally:
            db.connection.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, range(8)))
    row = DailyRollup.objects.get(organization=world.org)
    assert (row.count, row.total) == (200, 400)
