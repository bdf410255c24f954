"""Report pages for a 90-day period from the rollups, next to the same figures from the raw tables.

    .venv/bin/python bench/reports.py [--conversations 100000] [--messages 10] [--requests 20]

Builds a dedicated database (``<DATABASE_URL name>_bench_reports``, dropped and recreated each run)
and fills one organization (4 queues, 20 agents, 2 channels, business hours) with
``--conversations`` conversations spread over the last 90 days and ``--messages`` messages each
(``generate_series``; closes also get their audit-log rows), then:

1. rebuilds the rollups for the 91 local days with ``rebuild_rollups`` (timed);
2. times every report page for the 90-day period through Django's test client (server time: the
   whole view and template, no network): p50/p95 over ``--requests`` requests;
3. times the same figures computed straight from the raw tables (plain SQL ``GROUP BY`` /
   ``percentile_cont`` over conversations and messages, no template) for the pages that have a raw
   equivalent, and prints the ratio raw / rollup;
4. measures what the reports listeners add to an inbound message: the ``message.received`` listener
   alone (queries, µs per call), and ``inbound_message_receive`` end to end with and without the
   reports listeners registered (queries and µs per message).

Loopback PostgreSQL only; bounded in rows and requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.inbox import bench_database_url, pct, recreate_database  # noqa: E402

TZ = "America/Sao_Paulo"
DAYS = 90

FILL_SQL = """
INSERT INTO conversations_contact
    (organization_id, name, phone, email, lifecycle_stage, opt_in, marketing_opt_in, opt_in_source, is_blocked,
     lead_score, custom_fields, created_at, updated_at)
SELECT %(org)s, 'Contact ' || n, '+55119' || lpad(n::text, 8, '0'), '',
       (ARRAY['lead', 'qualified', 'customer'])[1 + n %% 3], 'unknown', false, '', false, 0, '{}'::jsonb,
       %(start)s + ((n * 7919) %% (%(days)s * 86400)) * interval '1 second', now()
FROM generate_series(1, %(count)s) AS n;

INSERT INTO conversations_conversation
    (organization_id, contact_id, channel_id, queue_id, assignee_id, status, priority, subject, created_at,
     sla_started_at, last_message_at, first_response_at, first_response_due_at, resolution_due_at, closed_at,
     first_response_breached_at, assigned_at)
SELECT c.organization_id, c.id, (%(channels)s::bigint[])[1 + c.id %% 2], (%(queues)s::bigint[])[1 + c.id %% 4],
       (%(memberships)s::bigint[])[1 + c.id %% 20],
       CASE WHEN c.id %% 10 < 7 THEN 'closed' ELSE 'open' END, 'medium', '',
       c.created_at, c.created_at, c.created_at,
       CASE WHEN c.id %% 10 < 9 THEN c.created_at + ((c.id * 37) %% 7200) * interval '1 second' END,
       c.created_at + interval '30 minutes', c.created_at + interval '8 hours',
       CASE WHEN c.id %% 10 < 7 THEN c.created_at + (600 + (c.id * 53) %% 86400) * interval '1 second' END,
       CASE WHEN c.id %% 10 >= 9 OR (c.id * 37) %% 7200 > 1800 THEN c.created_at + interval '31 minutes' END,
       c.created_at
FROM conversations_contact c WHERE c.organization_id = %(org)s;

INSERT INTO accounts_auditlogentry
    (organization_id, actor_id, action, content_type_id, object_id, object_repr, changes, metadata, created_at)
SELECT v.organization_id, NULL, 'conversation.closed', %(content_type)s, v.id::text, '', '{}'::jsonb, '{}'::jsonb,
       v.closed_at
FROM conversations_conversation v WHERE v.organization_id = %(org)s AND v.closed_at IS NOT NULL;

INSERT INTO conversations_message
    (organization_id, conversation_id, direction, author_type, author_id, kind, body, is_internal_note, attachment,
     attachment_name, attachment_content_type, provider_media_id, delivery_status, provider_message_id, error,
     template_payload, created_at)
SELECT v.organization_id, v.id,
       CASE WHEN m %% 2 = 0 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN m %% 2 = 0 THEN 'contact' ELSE 'agent' END,
       CASE WHEN m %% 2 = 0 THEN NULL ELSE (%(users)s::bigint[])[1 + v.id %% 20] END,
       (ARRAY['text', 'text', 'text', 'image', 'audio'])[1 + (v.id + m) %% 5], 'message ' || m, false, '', '', '', '',
       CASE WHEN m %% 2 = 0 THEN 'delivered'
            ELSE (ARRAY['sent', 'delivered', 'read', 'read', 'failed'])[1 + (v.id + m) %% 5] END,
       '', '', '{}'::jsonb, v.created_at + m * interval '3 minutes'
FROM conversations_conversation v CROSS JOIN generate_series(0, %(messages)s - 1) AS m
WHERE v.organization_id = %(org)s;
"""

# The same figures as the pages, straight from the raw tables (what reports without rollups do).
RAW = {
    "overview": [
        """SELECT count(*) FILTER (WHERE created_at >= %(start)s AND created_at < %(end)s),
                  count(*) FILTER (WHERE closed_at >= %(start)s AND closed_at < %(end)s),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at))
                      FILTER (WHERE first_response_at >= %(start)s AND first_response_at < %(end)s),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at))
                      FILTER (WHERE closed_at >= %(start)s AND closed_at < %(end)s)
           FROM conversations_conversation WHERE organization_id = %(org)s
             AND (created_at >= %(pstart)s OR closed_at >= %(pstart)s OR first_response_at >= %(pstart)s)""",
        """SELECT created_at >= %(start)s, direction, delivery_status, count(*) FROM conversations_message
           WHERE organization_id = %(org)s AND created_at >= %(pstart)s AND created_at < %(end)s
           GROUP BY 1, 2, 3""",
        """SELECT date(created_at AT TIME ZONE %(tz)s), count(*) FROM conversations_conversation
           WHERE organization_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1""",
    ],
    "conversations": [
        """SELECT date(closed_at AT TIME ZONE %(tz)s), count(*),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at))
           FROM conversations_conversation WHERE organization_id = %(org)s
             AND closed_at >= %(start)s AND closed_at < %(end)s GROUP BY 1""",
        """SELECT date(first_response_at AT TIME ZONE %(tz)s), count(*),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at))
           FROM conversations_conversation WHERE organization_id = %(org)s
             AND first_response_at >= %(start)s AND first_response_at < %(end)s GROUP BY 1""",
        """SELECT date(created_at AT TIME ZONE %(tz)s), count(*) FROM conversations_conversation
           WHERE organization_id = %(org)s AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1""",
    ],
    "agents": [
        """SELECT assignee_id, count(*) FILTER (WHERE closed_at IS NOT NULL),
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at))
           FROM conversations_conversation WHERE organization_id = %(org)s
             AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1""",
        """SELECT author_id, count(*) FROM conversations_message WHERE organization_id = %(org)s
             AND direction = 'outbound' AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1""",
    ],
    "sla": [
        """SELECT queue_id, count(*) FILTER (WHERE first_response_at <= first_response_due_at),
                  count(*) FILTER (WHERE first_response_breached_at IS NOT NULL)
           FROM conversations_conversation WHERE organization_id = %(org)s
             AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1""",
        """SELECT date(first_response_breached_at AT TIME ZONE %(tz)s), count(*) FROM conversations_conversation
           WHERE organization_id = %(org)s AND first_response_breached_at >= %(start)s
             AND first_response_breached_at < %(end)s GROUP BY 1""",
    ],
    "peak-hours": [
        """SELECT extract(isodow FROM created_at AT TIME ZONE %(tz)s), extract(hour FROM created_at AT TIME ZONE %(tz)s),
                  count(*) FROM conversations_message WHERE organization_id = %(org)s AND direction = 'inbound'
             AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2""",
    ],
    "messages": [
        """SELECT date(created_at AT TIME ZONE %(tz)s), direction, kind, delivery_status, count(*)
           FROM conversations_message WHERE organization_id = %(org)s
             AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1, 2, 3, 4""",
    ],
}


def setup(args):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.utils import timezone

    from accounts import services as account_services
    from accounts.models import BusinessHours
    from accounts.roles import Role
    from conversations import services
    from conversations.models import Conversation

    org = account_services.organization_create(name="Bench reports", slug="bench-reports", plan="enterprise")
    org.time_zone = TZ
    org.save(update_fields=["time_zone"])
    for weekday in range(5):
        BusinessHours.objects.create(organization=org, weekday=weekday, start=dt.time(8), end=dt.time(18))
    department = account_services.department_create(organization=org, name="Support")
    queues = [
        account_services.queue_create(
            department=department, name=f"Queue {n}", sla_first_response_minutes=30, sla_resolution_minutes=480
        )
        for n in range(4)
    ]
    members = [
        account_services.member_add(organization=org, email=f"agent{n}@bench.test", password="bench-password-123")
        for n in range(20)
    ]
    admin = account_services.member_add(
        organization=org, email="admin@bench.test", password="bench-password-123", role=Role.ORG_ADMIN
    )
    channels = [services.channel_create(organization=org, name=f"Channel {n}", kind="console") for n in range(2)]
    today = timezone.now().astimezone(ZoneInfo(TZ)).date()
    start = dt.datetime.combine(today - dt.timedelta(days=DAYS), dt.time()).replace(tzinfo=ZoneInfo(TZ))
    began = time.perf_counter()
    with connection.cursor() as cursor:
        for statement in filter(str.strip, FILL_SQL.split(";\n")):
            cursor.execute(
                statement,
                {
                    "org": org.pk,
                    "start": start,
                    "days": DAYS,
                    "count": args.conversations,
                    "messages": args.messages,
                    "queues": [q.pk for q in queues],
                    "channels": [c.pk for c in channels],
                    "memberships": [m.pk for m in members],
                    "users": [m.user_id for m in members],
                    "content_type": ContentType.objects.get_for_model(Conversation).pk,
                },
            )
        cursor.execute("VACUUM ANALYZE")
    print(
        f"filled {args.conversations:,} conversations, {args.conversations * args.messages:,} messages "
        f"over {DAYS} days in {time.perf_counter() - began:.1f} s",
        flush=True,
    )
    return org, admin, channels[0], today


def timed(func, requests: int) -> list[float]:
    func()  # warm the caches once
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def listener_cost(org, channel, count: int) -> None:
    """The reports listeners' added cost per inbound message."""
    from django.db import connection, reset_queries, transaction
    from django.test.utils import CaptureQueriesContext

    from conversations import services
    from conversations.models import Message
    from conversations.reports import listeners as report_listeners
    from pytake import events

    # The listener alone, on stored inbound messages.
    ids = list(
        Message.objects.filter(organization=org, direction="inbound")
        .order_by("-pk")
        .values_list("pk", "conversation_id")[:count]
    )
    samples, queries = [], []
    for message_id, conversation_id in ids:
        event = events.Event("message.received", org.pk, {"message_id": message_id, "conversation_id": conversation_id})
        reset_queries()
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            report_listeners.on_message_received(event)
            samples.append((time.perf_counter() - start) * 1e6)
            transaction.set_rollback(True)
        queries.append(len(captured))
    print(
        f"\nmessage.received reports listener alone: {statistics.median(samples):.0f} µs median, "
        f"{pct(samples, 0.95):.0f} µs p95, {statistics.median(queries):.0f} queries"
    )

    # End to end, with and without the reports listeners registered.
    mine = [f for fs in events._listeners.values() for f in fs if f.__module__ == report_listeners.__name__]

    def receive(tag: str, many: int = count) -> tuple[list[float], list[int]]:
        times, counts = [], []
        for n in range(many):
            reset_queries()  # the query log is bounded: start each capture empty
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                services.inbound_message_receive(channel=channel, phone=f"+5511990{n % 50:06d}", body=f"{tag} {n}")
                times.append((time.perf_counter() - start) * 1e6)
            counts.append(len(captured))
        return times, counts

    receive("warm")
    with_times, with_counts, without_times, without_counts = [], [], [], []
    saved = {name: list(funcs) for name, funcs in events._listeners.items()}
    try:
        for block in range(10):  # interleaved blocks, so machine noise falls on both sides alike
            times, counts = receive(f"with {block}", count // 10)
            with_times += times
            with_counts += counts
            for name in events._listeners:
                events._listeners[name] = [f for f in saved[name] if f not in mine]
            times, counts = receive(f"without {block}", count // 10)
            without_times += times
            without_counts += counts
            events._listeners.update({name: list(funcs) for name, funcs in saved.items()})
    finally:
        events._listeners.update(saved)
    added_us = statistics.median(with_times) - statistics.median(without_times)
    added_q = statistics.median(with_counts) - statistics.median(without_counts)
    print(
        f"inbound_message_receive, {count} messages on open conversations: with reports listeners "
        f"{statistics.median(with_times):.0f} µs / {statistics.median(with_counts):.0f} queries, without "
        f"{statistics.median(without_times):.0f} µs / {statistics.median(without_counts):.0f} queries "
        f"-> added {added_us:.0f} µs and {added_q:.0f} queries per message"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10, help="messages per conversation")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--inbound", type=int, default=200, help="inbound messages for the listener cost")
    args = parser.parse_args()
    if (
        not (1_000 <= args.conversations <= 1_000_000)
        or not (2 <= args.messages <= 20)
        or not (5 <= args.requests <= 200)
    ):
        parser.error("need 1,000 <= --conversations <= 1,000,000, 2 <= --messages <= 20, 5 <= --requests <= 200")
    if not 10 <= args.inbound <= 2000:
        parser.error("need 10 <= --inbound <= 2000")

    url, admin_url, name = bench_database_url("_bench_reports")
    print(f"database {name}: recreating", flush=True)
    recreate_database(admin_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_KEY_PREFIX", "pytake-bench-reports")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from conversations.reports import registry
    from conversations.reports.models import DailyRollup
    from conversations.reports.rebuild import local_bounds

    setup_test_environment()
    call_command("migrate", verbosity=0)
    org, admin, channel, today = setup(args)

    began = time.perf_counter()
    call_command(
        "rebuild_rollups",
        "--org",
        org.slug,
        "--from",
        (today - dt.timedelta(days=DAYS)).isoformat(),
        "--to",
        today.isoformat(),
        stdout=open(os.devnull, "w"),
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE reports_dailyrollup")
    print(
        f"rebuild_rollups over {DAYS + 1} days: {time.perf_counter() - began:.1f} s, "
        f"{DailyRollup.objects.filter(organization=org).count():,} rollup rows",
        flush=True,
    )

    client = Client()
    client.force_login(admin.user, backend="django.contrib.auth.backends.ModelBackend")
    day_from, day_to = today - dt.timedelta(days=DAYS - 1), today
    period = f"preset=custom&date_from={day_from}&date_to={day_to}"
    start, end = local_bounds(ZoneInfo(TZ), day_from, day_to)
    pstart, _ = local_bounds(ZoneInfo(TZ), day_from - dt.timedelta(days=DAYS), day_from)
    params = {"org": org.pk, "start": start, "end": end, "pstart": pstart, "tz": TZ}

    def page(slug):
        def get():
            response = client.get(f"/reports/{slug}/?{period}")
            if response.status_code != 200:
                raise SystemExit(f"/reports/{slug}/ answered {response.status_code}")

        return get

    def raw(statements):
        def run():
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql, params)
                    cursor.fetchall()

        return run

    print(
        f"\nReport pages, {DAYS}-day period, {args.conversations:,} conversations / "
        f"{args.conversations * args.messages:,} messages, {args.requests} requests each (ms)"
    )
    print(f"{'page':16} {'rollup p50':>10} {'p95':>8}   {'raw p50':>9} {'p95':>9}   {'raw/rollup p95':>14}")
    for section in registry.sections():
        mine = timed(page(section.slug), args.requests)
        line = f"{section.slug:16} {statistics.median(mine):10.1f} {pct(mine, 0.95):8.1f}"
        if section.slug in RAW:
            base = timed(raw(RAW[section.slug]), max(5, args.requests // 4))
            line += (
                f"   {statistics.median(base):9.1f} {pct(base, 0.95):9.1f}   {pct(base, 0.95) / pct(mine, 0.95):14.1f}"
            )
        else:
            line += "   (no raw equivalent timed)"
        print(line, flush=True)

    listener_cost(org, channel, args.inbound)


if __name__ == "__main__":
    main()
