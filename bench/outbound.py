"""Outbound WhatsApp benchmark: template messages/s from ONE worker vs a bare ``requests`` loop, and queries per send.

    .venv/bin/python bench/outbound.py [--messages 2000] [--runs 3] [--concurrency N]

A local Graph API server (``tests/notifications/graph_server.py``: threaded, keep-alive, answering
``{"messages": [{"id": "wamid…"}]}``) runs in its own process on 127.0.0.1. Each run measures:

1. baseline: a bare ``requests`` loop — one ``Session``, the same URL, headers and JSON body the
   outbox sends — posting N template messages to it, in messages per second;
2. PyTake: N template rows written with ``outbox_enqueue`` (transport ``whatsapp.direct``, one
   transaction each, as an action writes them; tasks published on commit) while no worker runs,
   then delivered by ONE real worker process (``celery -A pytake worker``, prefork pool) through
   claim → send → record: messages per second from the first to the last arrival at the server,
   and the ratio to the baseline of the same run.

The median of ``--runs`` runs is printed with each run's figures. Then, in this process: the SQL
statements of one enqueue and of one ``notification_deliver`` of a template row
(``CaptureQueriesContext``).

Uses a dedicated database ``pytake_bench_outbound`` (created, migrated, dropped) on the server of
``DATABASE_URL`` when set, else on the embedded PostgreSQL; Redis from ``REDIS_URL`` (or embedded)
under its own key prefix. Bounded: each delivery phase gives up after 150 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import admin_connection, bench_database_url, graph_stats, requests_baseline, serve_graph  # noqa: E402 (after the path is set)

BENCH_DB = "pytake_bench_outbound"
WABA = "104996675854313"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="template messages per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2, help="pool size of the one worker")
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")
    ports = spawn.Queue()
    server = spawn.Process(target=serve_graph, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=30)
    graph_base = f"http://127.0.0.1:{port}/v21.0"

    database_url = bench_database_url(BENCH_DB)
    with admin_connection(database_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    try:
        os.environ.update(
            DATABASE_URL=database_url,
            WHATSAPP_GRAPH_BASE_URL=graph_base,
            HTTPS="0",
            DJANGO_SETTINGS_MODULE="pytake.settings",
            LOG_LEVEL="WARNING",
        )
        os.environ.setdefault("REDIS_KEY_PREFIX", f"pytake-bench-{os.getpid()}")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection, transaction
        from django.test.utils import CaptureQueriesContext

        from conversations import services as conversation_services
        from conversations.channels.whatsapp import wa_id
        from conversations.message_templates import template_render
        from notifications import services
        from notifications.models import NotificationLog, Status
        from tests import factories
        from tests.conversations import factories as cf
        from tests.notifications.worker import Worker, wait_until, worker_env

        call_command("migrate", verbosity=0)
        org = factories.organization(plan="enterprise", slug="bench")
        channel = cf.channel(org, business_account_id=WABA)
        draft = cf.whatsapp_template(org, channel)
        [template] = conversation_services.template_status_update(
            channel=channel, business_account_id=WABA, event="APPROVED", name=draft.name, language=draft.language
        )
        contacts = [cf.contact(org) for _ in range(50)]
        rendered = {
            c.pk: template_render(template=template, values={"body.1": c.name, "body.2": "amanhã às 10h"})
            for c in contacts
        }

        def enqueue(contact):
            with transaction.atomic():
                row, _ = services.outbox_enqueue(
                    organization=org,
                    event_type="appointment_reminder",
                    channel="whatsapp",
                    recipient=contact.phone,
                    contact_id=contact.pk,
                    transport="whatsapp.direct",
                    payload={
                        "channel_id": channel.pk,
                        "message": {"type": "template", "template": rendered[contact.pk].graph_template},
                    },
                    message=rendered[contact.pk].text,
                )
            return row

        print(
            f"database {BENCH_DB}; {args.messages} template messages per run, {args.runs} runs; one worker, "
            f"pool of {args.concurrency}, prefetch multiplier {settings.CELERY_WORKER_PREFETCH_MULTIPLIER}; "
            f"{os.cpu_count()} CPUs; Graph API stand-in on 127.0.0.1:{port} (own process)"
        )
        first = contacts[0]
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": wa_id(first.phone),
            "type": "template",
            "template": rendered[first.pk].graph_template,
        }
        url = f"{graph_base}/{channel.phone_number_id}/messages"
        env = worker_env(
            database_url=database_url,
            redis_url=settings.REDIS_URL,
            key_prefix=settings.REDIS_KEY_PREFIX,
            smtp_port=1,
            WHATSAPP_GRAPH_BASE_URL=graph_base,
        )

        def deliver(ids: list[int]) -> tuple[float, int]:
            """Start one worker on the queued rows; (messages/s from the first to the last arrival, arrivals)."""
            before = graph_stats(port, 0)["count"]
            worker = Worker(
                env, concurrency=args.concurrency, log_path=ROOT / "test-output" / "bench-outbound-worker.log"
            ).start()
            try:
                wait_until(
                    lambda: graph_stats(port, before)["count"] >= before + len(ids),
                    timeout=150,
                    what="every template message at the Graph server",
                    interval=0.05,
                )
                stats = graph_stats(port, before)
                wait_until(
                    lambda: NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids),
                    timeout=60,
                    what="every row recorded as sent",
                )
            finally:
                worker.stop()
            return (len(ids) - 1) / (stats["last_at"] - stats["first_at"]), stats["count"] - before

        runs = []
        for run in range(1, args.runs + 1):
            base_rate = requests_baseline(url, channel.access_token, body, args.messages)
            started = time.perf_counter()
            ids = [enqueue(contacts[n % len(contacts)]).pk for n in range(args.messages)]
            enqueue_rate = len(ids) / (time.perf_counter() - started)
            rate, arrived = deliver(ids)
            runs.append((base_rate, rate, rate / base_rate, enqueue_rate))
            print(
                f"run {run}: requests loop {base_rate:7.1f} msg/s   PyTake worker {rate:7.1f} msg/s   "
                f"ratio {rate / base_rate:5.2f}   ({arrived} arrived for {len(ids)} rows; "
                f"enqueue {enqueue_rate:6.1f} rows/s)"
            )

        def median(i):
            return statistics.median(r[i] for r in runs)

        print(f"median of {len(runs)} runs:")
        print(f"  bare requests loop (one Session):   {median(0):8.1f} template messages/s")
        print(f"  PyTake, one worker (pool {args.concurrency}):     {median(1):8.1f} template messages/s")
        print(f"  ratio PyTake / requests loop:       {median(2):8.2f}   (goal >= 0.5)")
        print(f"  outbox_enqueue, one per transaction: {median(3):7.1f} rows/s")

        contact = contacts[1]
        with CaptureQueriesContext(connection) as enqueue_queries:
            row = enqueue(contact)
        with CaptureQueriesContext(connection) as deliver_queries:
            outcome = services.notification_deliver(log_id=row.pk)
        assert outcome.status == Status.SENT, outcome
        print(f"queries per enqueue (outbox_enqueue in its transaction): {len(enqueue_queries):3d}")
        for query in enqueue_queries.captured_queries:
            print(f"    {query['sql'][:110]}")
        print(f"queries per send (notification_deliver, template row):   {len(deliver_queries):3d}")
        for query in deliver_queries.captured_queries:
            print(f"    {query['sql'][:110]}")
    finally:
        from django.db import connections

        connections.close_all()
        with admin_connection(database_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        server.terminate()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
