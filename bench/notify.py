"""Notification delivery benchmark: one Celery worker vs a bare smtplib loop, and queries per notify().

    .venv/bin/python bench/notify.py [--emails 1000] [--concurrency N]

Starts a real SMTP server (aiosmtpd) in this process on a free port, then measures:

1. baseline: a bare ``smtplib`` loop sending N messages to it (one connection per message, as the
   worker does, and one reused connection), in emails per second;
2. PyTake: N notifications written with ``notify()`` and delivered by ONE real worker process
   (``celery -A pytake worker``) until every row is ``sent`` — emails per second from the first
   to the last accepted message, and the ratio to the baseline;
3. SQL queries per ``notify()`` call with 1 and 50 recipients (five channels each).

Uses a dedicated database ``pytake_bench_notify`` (created, migrated, dropped) on the server of
``DATABASE_URL`` when set, else on the embedded PostgreSQL; Redis from ``REDIS_URL`` (or embedded)
under its own key prefix. Bounded: the worker phase gives up after 150 s.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import admin_connection, bench_database_url  # noqa: E402 (after the path is set)

BENCH_DB = "pytake_bench_notify"


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("REDIS_KEY_PREFIX", f"pytake-bench-{os.getpid()}")
    os.environ.setdefault("HTTPS", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "pytake.settings"
    import django

    django.setup()


def _message(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "PyTake <noreply@pytake.local>"
    message["To"] = f"agent{n}@bench.test"
    message["Subject"] = f"Baseline {n}"
    message["Message-ID"] = f"<baseline-{n}@bench>"
    message.set_content("A conversation was assigned to you.")
    message.add_alternative("<p>A conversation was assigned to you.</p>", subtype="html")
    return message


def baseline(port: int, count: int) -> tuple[float, float]:
    start = time.perf_counter()
    for n in range(count):
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(_message(n))
    per_connection = count / (time.perf_counter() - start)
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for n in range(count):
            client.send_message(_message(n))
    reused = count / (time.perf_counter() - start)
    return per_connection, reused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2, help="pool size of the one worker")
    parser.add_argument(
        "--prefetch-multiplier",
        type=int,
        default=None,
        help="the worker's --prefetch-multiplier (default: the settings' CELERY_WORKER_PREFETCH_MULTIPLIER)",
    )
    args = parser.parse_args()

    database_url = bench_database_url(BENCH_DB)
    with admin_connection(database_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    worker = None
    try:
        _setup_django(database_url)
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from accounts.roles import Role
        from notifications import services
        from notifications.models import NotificationLog, Status
        from tests import factories
        from tests.notifications import factories as nf
        from tests.notifications.smtp import SmtpServer
        from tests.notifications.worker import Worker, wait_until, worker_env

        call_command("migrate", verbosity=0)
        print(
            f"database {BENCH_DB}; {args.emails} emails; worker concurrency {args.concurrency}, "
            f"prefetch multiplier {args.prefetch_multiplier or 'from settings'}; {os.cpu_count()} CPUs"
        )

        with SmtpServer() as smtp:
            per_connection, reused = baseline(smtp.port, args.emails)
            print(
                f"baseline smtplib loop:  {per_connection:8.1f} emails/s (new connection each)  {reused:8.1f} emails/s (one connection)"
            )

            org = factories.organization(plan="enterprise", slug="bench")
            nf.org_settings(org, email_rate_limit_per_hour=1_000_000, email_batch_size=1000)
            users = []
            for _ in range(20):
                user = factories.member(org, Role.AGENT).user
                nf.preference(org, user, max_emails_per_hour=100)
                users.append(user)
            smtp.handler.messages.clear()
            env = worker_env(
                database_url=database_url,
                redis_url=settings.REDIS_URL,
                key_prefix=settings.REDIS_KEY_PREFIX,
                smtp_port=smtp.port,
            )
            worker = Worker(
                env,
                concurrency=args.concurrency,
                prefetch_multiplier=args.prefetch_multiplier,
                log_path=ROOT / "test-output" / "bench-notify-worker.log",
            ).start()
            time.sleep(0.5)
            # Rows and tasks first, then let the worker go: the rate is delivery only.
            ids = []
            rounds = max(1, args.emails // len(users))
            started_enqueue = time.perf_counter()
            for n in range(rounds):
                rows = services.notify(
                    organization=org,
                    event_type="custom",
                    recipients=users,
                    channels=["email"],
                    context={"title": f"Bench {n}"},
                )
                ids += [r.pk for r in rows]
            enqueue_rate = len(ids) / (time.perf_counter() - started_enqueue)
            wait_until(lambda: len(smtp.handler.messages) >= 1, timeout=60, what="the first email")
            first = time.perf_counter()
            first_count = len(smtp.handler.messages)
            wait_until(lambda: len(smtp.handler.messages) >= len(ids), timeout=150, what="every email", interval=0.05)
            elapsed = time.perf_counter() - first
            rate = (len(ids) - first_count) / elapsed if elapsed > 0 else float("inf")
            sent = NotificationLog.objects.filter(pk__in=ids, status=Status.SENT).count()
            unique = len(smtp.handler.message_ids())
            print(
                f"notify() writing rows:  {enqueue_rate:8.1f} rows/s (one email row per recipient, tasks published on commit)"
            )
            print(
                f"PyTake, one worker:     {rate:8.1f} emails/s ({sent}/{len(ids)} rows sent, {unique} unique Message-IDs received)"
            )
            print(
                f"ratio to smtplib loop:  {rate / per_connection:8.2f} (new connection each)  {rate / reused:8.2f} (one connection)"
            )
            worker.stop()
            worker = None

            for count in (1, 50):
                recipients = (
                    [factories.member(org, Role.AGENT).user for _ in range(count)]
                    if count > len(users)
                    else users[:count]
                )
                with CaptureQueriesContext(connection) as queries:
                    services.notify(
                        organization=org,
                        event_type="conversation_assigned",
                        recipients=recipients,
                        context={"contact_name": "Ana", "conversation_id": 1},
                    )
                print(f"queries per notify():   {len(queries):4d} with {count} recipient(s) × 5 channels")
    finally:
        if worker is not None:
            worker.kill()
        from django.db import connections

        connections.close_all()
        with admin_connection(database_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
