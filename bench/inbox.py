"""Inbox page server time with up to 1,000,000 conversations in one organization (p50/p95).

    .venv/bin/python bench/inbox.py [--conversations 100000] [--messages 5] [--baseline 1000] [--requests 40]

Builds a dedicated database (``<DATABASE_URL name>_bench_inbox``, dropped and recreated each
run), fills one organization with ``--conversations`` conversations (a contact and ``--messages``
messages each, written with ``generate_series``) and a baseline organization with ``--baseline``, then
times the inbox through Django's test client (in process: server time only, no network):
the full page, the list partial, a search, and the conversation pane. Prints p50/p95 for both
organizations and the ratio big/baseline. Loopback PostgreSQL and Redis only; bounded in rows
and requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def bench_database_url(suffix: str) -> tuple[str, str, str]:
    source = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/pytake"
    parts = urlsplit(source)
    name = (parts.path.lstrip("/") or "pytake") + suffix
    admin = urlunsplit(parts._replace(path="/postgres"))
    return urlunsplit(parts._replace(path="/" + name)), admin, name


def recreate_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


FILL_SQL = """
INSERT INTO conversations_contact
    (organization_id, name, phone, email, lifecycle_stage, opt_in, opt_in_source, marketing_opt_in, is_blocked, lead_score,
     custom_fields, created_at, updated_at)
SELECT %(org)s, 'Contact ' || n, '+55119' || lpad((%(offset)s + n)::text, 8, '0'), '', 'lead', 'unknown', '', false, false, 0,
       '{}'::jsonb, now(), now()
FROM generate_series(1, %(count)s) AS n;

INSERT INTO conversations_conversation
    (organization_id, contact_id, queue_id, assignee_id, status, priority, subject, created_at, last_message_at, sla_started_at, closed_at)
SELECT c.organization_id, c.id, %(queue)s,
       CASE WHEN c.id %% 4 = 0 THEN %(agent)s ELSE NULL END,
       CASE WHEN c.id %% 10 < 3 THEN 'closed' WHEN c.id %% 10 = 3 THEN 'pending' ELSE 'open' END,
       (ARRAY['low', 'medium', 'high', 'urgent'])[1 + c.id %% 4], '',
       now() - (c.id %% 100000) * interval '1 minute', now() - (c.id %% 100000) * interval '1 minute', now(),
       CASE WHEN c.id %% 10 < 3 THEN now() ELSE NULL END
FROM conversations_contact c WHERE c.organization_id = %(org)s;

INSERT INTO conversations_message
    (organization_id, conversation_id, direction, author_type, kind, body, is_internal_note, attachment, attachment_name,
     attachment_content_type, provider_media_id, delivery_status, provider_message_id, error, template_payload, created_at)
SELECT v.organization_id, v.id, 'inbound', 'contact', 'text',
       (ARRAY['Olá, preciso de ajuda com o pedido ', 'Where is my order? Reference ', 'Obrigada pelo retorno sobre '])[1 + m %% 3]
         || v.id, false, '', '', '', '', 'delivered', '', '', '{}'::jsonb, v.last_message_at - m * interval '1 second'
FROM conversations_conversation v CROSS JOIN generate_series(0, %(messages)s - 1) AS m WHERE v.organization_id = %(org)s;
"""


def fill(organization, queue, agent, count: int, offset: int, messages: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in filter(str.strip, FILL_SQL.split(";\n")):
            cursor.execute(
                statement,
                {
                    "org": organization.pk,
                    "queue": queue.pk,
                    "agent": agent.pk,
                    "count": count,
                    "offset": offset,
                    "messages": messages,
                },
            )
        # VACUUM as autovacuum would: it also merges the GIN indexes' pending lists into the index.
        cursor.execute("VACUUM ANALYZE")


def timed(client, url: str, headers: dict, requests: int) -> list[float]:
    client.get(url, **headers)  # warm the caches once
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, **headers)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=5, help="messages per conversation")
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    if (
        not (1 <= args.baseline <= args.conversations <= 1_000_000)
        or not (5 <= args.requests <= 500)
        or not (1 <= args.messages <= 10)
    ):
        parser.error(
            "need 1 <= --baseline <= --conversations <= 1,000,000, 1 <= --messages <= 10, 5 <= --requests <= 500"
        )

    url, admin_url, name = bench_database_url("_bench_inbox")
    print(f"database {name}: recreating", flush=True)
    recreate_database(admin_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_KEY_PREFIX", "pytake-bench-inbox")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts import services as account_services
    from accounts.models import Membership

    setup_test_environment()  # the test client's ALLOWED_HOSTS ("testserver")
    call_command("migrate", verbosity=0)
    rows = {}
    for label, count, offset in (("big", args.conversations, 0), ("baseline", args.baseline, args.conversations)):
        org = account_services.organization_create(name=f"Bench {label}", slug=f"bench-{label}", plan="enterprise")
        department = account_services.department_create(organization=org, name="Support")
        queue = account_services.queue_create(department=department, name="Support")
        agent = account_services.member_add(
            organization=org, email=f"agent@{label}.bench", password="bench-password-123"
        )
        start = time.perf_counter()
        fill(org, queue, agent, count, offset, args.messages)
        print(
            f"{label}: {count:,} conversations, {count * args.messages:,} messages written "
            f"in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        rows[label] = (org, agent)

    pages = [
        ("full page", "/inbox/", {}),
        ("list partial", "/inbox/?view=all", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}),
        (
            "list: mine, open",
            "/inbox/?view=mine&status=open",
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"},
        ),
        ("search 'pedido 77'", "/inbox/?q=pedido+77", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}),
        (
            "search name 'contact 77'",
            "/inbox/?q=contact+77",
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"},
        ),
        ("search phone end '0077'", "/inbox/?q=0077", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}),
        (
            "list: queue, unassigned",
            "/inbox/?view=unassigned&queue={queue}",
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"},
        ),
        ("conversation pane", "/inbox/?c={newest}", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-pane"}),
    ]
    results = {}
    for label, (org, agent) in rows.items():
        client = Client()
        client.force_login(agent.user, backend="django.contrib.auth.backends.ModelBackend")
        newest = org.conversations.order_by("-last_message_at").values_list("pk", flat=True).first()
        queue_id = org.conversations.values_list("queue_id", flat=True).first()
        for page, path, headers in pages:
            results[(label, page)] = timed(client, path.format(newest=newest, queue=queue_id), headers, args.requests)
        assert Membership.objects.filter(pk=agent.pk).exists()

    print(
        f"\nInbox server time, {args.requests} requests each (ms), {args.conversations:,} vs {args.baseline:,} conversations"
    )
    print(f"{'page':26} {'p50':>8} {'p95':>8}   {'baseline p50':>12} {'p95':>8}   {'ratio p50':>9} {'p95':>6}")
    for page, _path, _headers in pages:
        big, base = results[("big", page)], results[("baseline", page)]
        print(
            f"{page:26} {statistics.median(big):8.1f} {pct(big, 0.95):8.1f}   {statistics.median(base):12.1f} {pct(base, 0.95):8.1f}"
            f"   {statistics.median(big) / statistics.median(base):9.2f} {pct(big, 0.95) / pct(base, 0.95):6.2f}"
        )


if __name__ == "__main__":
    main()
