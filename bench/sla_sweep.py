"""Benchmark: one SLA sweep with 1,000 due conversations among 100,000 and among 1,000,000.

Run: ``.venv/bin/python bench/sla_sweep.py``. It creates its own database
(``pytake_bench_sla``) on the server of ``DATABASE_URL``
(or the embedded PostgreSQL), inserts the rows with ``generate_series`` (half the non-due rows
open with future due times, half closed), and times ``services.sla_sweep``:

- "sweep": the sweep itself (select due rows through the partial indexes with ``FOR UPDATE
  SKIP LOCKED``, flag them, dispatch the events), inside a transaction rolled back afterwards
  so that it can be repeated on the same rows; the median of 5 runs. Listener delivery is not
  included (rolled-back events are never delivered).
- "committed": one real sweep at the end, including delivery of the 2,000 events to the
  listeners registered in this checkout.

The baseline is the 100,000-row sweep: the 1,000,000-row one should take about the same time
(cost grows with due rows, not total rows).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import claim  # noqa: E402  (database helpers shared by the two benches)

claim.BENCH_DB = "pytake_bench_sla"
DUE = 1_000
REPEATS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="Keep the bench database afterwards.")
    args = parser.parse_args()
    bench_url, maintenance_url = claim.bench_database_url()
    claim.recreate_database(maintenance_url)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("HTTPS", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "pytake.settings"
    import django

    django.setup()
    try:
        return run()
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            claim.recreate_database(maintenance_url, drop_only=True)


def run() -> int:
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts import services as account_services
    from conversations import services
    from conversations.models import Conversation
    from pytake import events

    print(f"Migrating {claim.BENCH_DB} …", flush=True)
    call_command("migrate", verbosity=0)
    org = account_services.organization_create(name="Bench", slug="bench", plan="enterprise")
    queue = account_services.queue_create(
        department=account_services.department_create(organization=org, name="Bench"),
        name="SLA",
        routing_strategy="manual",
        sla_first_response_minutes=10,
        sla_resolution_minutes=100,
    )
    contact = services.contact_create(organization=org, name="Bench contact", phone="+5511900000000")

    def insert_not_due(n: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO conversations_conversation
                    (organization_id, contact_id, queue_id, status, priority, subject, created_at, last_message_at, sla_started_at,
                     closed_at, first_response_warning_at, first_response_due_at, resolution_warning_at, resolution_due_at)
                SELECT %(org)s, %(contact)s, %(queue)s, CASE WHEN g %% 2 = 0 THEN 'open' ELSE 'closed' END, 'medium', '',
                       now(), now(), now(),
                       CASE WHEN g %% 2 = 0 THEN NULL ELSE now() - interval '1 day' END,
                       CASE WHEN g %% 2 = 0 THEN now() + (g %% 1000 || ' minutes')::interval + interval '1 day' ELSE now() - interval '2 days' END,
                       CASE WHEN g %% 2 = 0 THEN now() + (g %% 1000 || ' minutes')::interval + interval '2 days' ELSE now() - interval '2 days' END,
                       now() + interval '3 days', now() + interval '4 days'
                FROM generate_series(1, %(n)s) AS g
                """,
                {"org": org.pk, "contact": contact.pk, "queue": queue.pk, "n": n},
            )

    def insert_due(n: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO conversations_conversation
                    (organization_id, contact_id, queue_id, status, priority, subject, created_at, last_message_at, sla_started_at,
                     first_response_warning_at, first_response_due_at, resolution_warning_at, resolution_due_at)
                SELECT %(org)s, %(contact)s, %(queue)s, 'open', 'high', '', now(), now(), now() - interval '15 minutes',
                       now() - interval '7 minutes', now() - interval '5 minutes', now() + interval '1 day', now() + interval '2 days'
                FROM generate_series(1, %(n)s) AS g
                """,
                {"org": org.pk, "contact": contact.pk, "queue": queue.pk, "n": n},
            )

    def analyze() -> None:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE conversations_conversation")

    def timed_sweeps() -> tuple[float, int]:
        times, raised = [], 0
        for _ in range(REPEATS):
            with transaction.atomic():
                started = time.perf_counter()
                result = services.sla_sweep()
                times.append(time.perf_counter() - started)
                raised = sum(result.values())
                transaction.set_rollback(True)
        return statistics.median(times), raised

    rows = {}
    started = time.perf_counter()
    insert_due(DUE)
    insert_not_due(100_000 - DUE)
    analyze()
    print(f"inserted 100,000 rows in {time.perf_counter() - started:.1f} s", flush=True)
    rows[100_000] = timed_sweeps()

    started = time.perf_counter()
    insert_not_due(900_000)
    analyze()
    print(f"inserted 900,000 more rows in {time.perf_counter() - started:.1f} s", flush=True)
    rows[1_000_000] = timed_sweeps()

    print(f"\n{'total rows':>10} {'due rows':>9} {'events':>7} {'sweep (median of 5)':>20} {'vs 100k baseline':>17}")
    baseline = rows[100_000][0]
    for total, (seconds, raised) in rows.items():
        print(f"{total:>10,} {DUE:>9,} {raised:>7,} {seconds * 1000:>17.1f} ms {seconds / baseline:>16.2f}x")

    listener_count = sum(len(events.listeners_for(name)) for name in ("sla.warning", "sla.breached"))
    started = time.perf_counter()
    result = services.sla_sweep()
    committed = time.perf_counter() - started
    print(
        f"\ncommitted sweep at 1,000,000 rows, delivering {sum(result.values()):,} events to {listener_count} listener(s): {committed:.2f} s"
    )
    left = Conversation.objects.filter(
        first_response_due_at__lte=time_now(), first_response_breached_at__isnull=True, status="open"
    ).count()
    print(f"due rows left unraised after it: {left}")
    ok = all(raised == 2 * DUE for _s, raised in rows.values()) and left == 0
    print("OK" if ok else "FAILED: unexpected event counts")
    return 0 if ok else 1


def time_now():
    from django.utils import timezone

    return timezone.now()


if __name__ == "__main__":
    sys.exit(main())
