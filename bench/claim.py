"""Benchmark: conversations claimed per second by 1, 4 and 20 concurrent agents pulling one queue.

Run: ``.venv/bin/python bench/claim.py [--conversations 3000]``. It creates its own database
(``pytake_bench_claim``) on the server of ``DATABASE_URL`` (or the embedded PostgreSQL), migrates
it, fills one queue with unassigned conversations through SQL, lets N agent processes (each its
own database connection, as web workers would) call ``conversation_pull_next`` until the queue is empty, and drops the
database at the end. It prints claims/s, duplicates found (must be 0) and conversations left
behind (must be 0), and the ratio to a baseline measured in the same run: the same "next
conversation" SELECT without locking or assigning, from one connection.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "pytake_bench_claim"


def bench_database_url() -> tuple[str, str]:
    """(URL of the bench database, URL of a maintenance database on the same server)."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        from pytake import embedded

        base = embedded.ensure_database_url()
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}")), urlunsplit(parts._replace(path="/postgres"))


def _conninfo(url: str) -> str:
    import environ

    config = environ.Env.db_url_config(url)
    host = config.get("HOST") or config.get("OPTIONS", {}).get("host", "")
    parts = [f"dbname={config['NAME']}", f"user={config.get('USER') or 'postgres'}"]
    if host:
        parts.append(f"host={host}")
    if config.get("PORT"):
        parts.append(f"port={config['PORT']}")
    if config.get("PASSWORD"):
        parts.append(f"password={config['PASSWORD']}")
    return " ".join(parts)


def recreate_database(maintenance_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(_conninfo(maintenance_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def _agent(member_id: int, barrier, results) -> None:
    """One agent in its own process and database connection: pull until the queue is empty."""
    from django.db import connection

    from accounts.models import Membership
    from conversations import services

    claims: list[int] = []
    error = ""
    try:
        member = Membership.objects.get(pk=member_id)
        barrier.wait()
        while (claimed := services.conversation_pull_next(membership=member)) is not None:
            claims.append(claimed.pk)
    except BaseException as exc:  # reported by the parent
        error = repr(exc)
    finally:
        connection.close()
    results.put((member_id, claims, error))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conversations", type=int, default=3000, help="Conversations in the queue per round (default: %(default)s)."
    )
    parser.add_argument("--agents", default="1,4,20", help="Comma-separated agent counts (default: %(default)s).")
    parser.add_argument("--keep", action="store_true", help="Keep the bench database afterwards.")
    args = parser.parse_args()
    agent_counts = [int(n) for n in args.agents.split(",")]

    bench_url, maintenance_url = bench_database_url()
    recreate_database(maintenance_url)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("HTTPS", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "pytake.settings"
    import django

    django.setup()
    try:
        return run(args.conversations, agent_counts)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(maintenance_url, drop_only=True)


def run(total: int, agent_counts: list[int]) -> int:
    from django.core.management import call_command
    from django.db import connection, connections

    from accounts import services as account_services
    from accounts.models import AgentStatus, Membership
    from conversations import services
    from conversations.models import Conversation, Status

    print(f"Migrating {BENCH_DB} …", flush=True)
    call_command("migrate", verbosity=0)
    org = account_services.organization_create(name="Bench", slug="bench", plan="enterprise")
    queue = account_services.queue_create(
        department=account_services.department_create(organization=org, name="Bench"),
        name="Pull",
        routing_strategy="manual",
    )
    agents = []
    for n in range(max(agent_counts)):
        membership = account_services.member_add(organization=org, email=f"agent{n}@bench.test", password="x")
        agents.append(membership)
    Membership.objects.filter(pk__in=[a.pk for a in agents]).update(status=AgentStatus.ONLINE)
    queue.agents.set(agents)
    contact = services.contact_create(organization=org, name="Bench contact", phone="+5511900000000")

    def fill():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM conversations_conversation")
            cursor.execute(
                """
                INSERT INTO conversations_conversation
                    (organization_id, contact_id, queue_id, status, priority, subject, created_at, last_message_at, sla_started_at)
                SELECT %s, %s, %s, 'open', (ARRAY['low','medium','high','urgent'])[1 + g %% 4], '',
                       now() - (g || ' seconds')::interval, now(), now()
                FROM generate_series(1, %s) AS g
                """,
                [org.pk, contact.pk, queue.pk, total],
            )
            cursor.execute("ANALYZE conversations_conversation")

    # Baseline: the same "next conversation" query, no lock, no assignment, one connection.
    fill()
    membership = agents[0]
    baseline_n = min(total, 2000)
    started = time.perf_counter()
    for _ in range(baseline_n):
        Conversation.objects.filter(queue_id=queue.pk, status=Status.OPEN, assignee__isnull=True).order_by(
            "-priority_rank", "created_at", "id"
        ).values_list("pk", flat=True).first()
    baseline = baseline_n / (time.perf_counter() - started)
    print(f"baseline: plain SELECT … LIMIT 1 (no lock, no update), 1 connection: {baseline:,.0f} queries/s\n")

    print(
        f"{'agents':>6} {'claims':>7} {'seconds':>8} {'claims/s':>10} {'vs baseline':>12} {'duplicates':>11} {'left':>5}"
    )
    ok = True
    context = multiprocessing.get_context("fork")
    for count in agent_counts:
        fill()
        connections.close_all()  # each agent process opens its own connection
        barrier = context.Barrier(count + 1)
        results = context.Queue()
        processes = [context.Process(target=_agent, args=(a.pk, barrier, results)) for a in agents[:count]]
        for process in processes:
            process.start()
        barrier.wait()
        started = time.perf_counter()
        outcomes = [results.get() for _ in processes]
        elapsed = time.perf_counter() - started
        for process in processes:
            process.join()
        errors = [error for _pk, _claims, error in outcomes if error]
        if errors:
            print(f"errors: {errors[:3]}")
            return 1
        claims = {pk: pks for pk, pks, _error in outcomes}
        claimed = [pk for pks in claims.values() for pk in pks]
        duplicates = sum(n - 1 for n in Counter(claimed).values() if n > 1)
        left = Conversation.objects.filter(assignee__isnull=True).count()
        rate = len(claimed) / elapsed
        per_agent = [len(p) for p in claims.values()]
        print(
            f"{count:>6} {len(claimed):>7} {elapsed:>8.2f} {rate:>10,.0f} {rate / baseline:>11.2f}x {duplicates:>11} {left:>5}"
            f"   (per agent: min {min(per_agent)}, median {statistics.median(per_agent):.0f}, max {max(per_agent)})"
        )
        ok = ok and duplicates == 0 and left == 0 and len(claimed) == total
    print("\nOK: zero duplicates, nothing left behind." if ok else "\nFAILED: duplicates or conversations left behind.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
