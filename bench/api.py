"""The API next to the HTML inbox at 100,000 conversations: the list and a reply, p50/p95 and requests/s.

    .venv/bin/python bench/api.py [--conversations 100000] [--messages 3] [--requests 60]

Builds a dedicated database (``<DATABASE_URL name>_bench_api``, dropped and recreated), fills one
organization with ``--conversations`` conversations (``bench/inbox.py``'s ``generate_series`` fill),
then times through Django's test client, in process (server time, no network), one request after
another: ``GET /api/v1/conversations/`` with a bearer token against the inbox's list partial
(``/inbox/?view=all``, session), the filtered list (mine, open) both ways, and a reply —
``POST /api/v1/conversations/<id>/reply/`` against the inbox's reply form ``POST /inbox/<id>/reply/``
— each on its own conversation. Prints p50, p95, requests/s and the ratio API / HTML. Loopback
PostgreSQL and Redis only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.inbox import bench_database_url, fill, pct, recreate_database  # noqa: E402


def run(call, requests: int) -> list[float]:
    call(-1)  # warm up once
    samples = []
    for n in range(requests):
        start = time.perf_counter()
        response = call(n)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code not in (200, 201):
            raise SystemExit(f"answered {response.status_code}: {response.content[:300]!r}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3, help="messages per conversation")
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    if (
        not (100 <= args.conversations <= 1_000_000)
        or not (5 <= args.requests <= 1000)
        or not (1 <= args.messages <= 10)
    ):
        parser.error("need 100 <= --conversations <= 1,000,000, 1 <= --messages <= 10, 5 <= --requests <= 1000")
    if args.requests * 2 + 4 > args.conversations:
        parser.error("--requests must leave a conversation for each reply")

    url, admin_url, name = bench_database_url("_bench_api")
    print(f"database {name}: recreating", flush=True)
    recreate_database(admin_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("REDIS_KEY_PREFIX", "pytake-bench-api")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from accounts import services as account_services
    from conversations.models import Conversation

    setup_test_environment()
    settings.API_RATE_LIMIT_PER_MINUTE = 10_000_000
    call_command("migrate", verbosity=0)
    org = account_services.organization_create(name="Bench API", slug="bench-api", plan="enterprise")
    department = account_services.department_create(organization=org, name="Support")
    queue = account_services.queue_create(department=department, name="Support")
    agent = account_services.member_add(organization=org, email="agent@api.bench", password="bench-password-123")
    started = time.perf_counter()
    fill(org, queue, agent, args.conversations, 0, args.messages)
    Conversation.objects.filter(organization=org).update(last_inbound_at=timezone.now())  # the reply window is open
    print(f"{args.conversations:,} conversations written in {time.perf_counter() - started:.1f} s", flush=True)
    _row, token = account_services.api_token_create(
        organization=org, user=agent.user, name="bench", kind="personal", scopes=["conversations:write"]
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    html = Client()
    html.force_login(agent.user, backend="django.contrib.auth.backends.ModelBackend")
    partial = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}
    targets = list(
        Conversation.objects.filter(organization=org, status="open")
        .order_by("-last_message_at")
        .values_list("pk", flat=True)[: args.requests * 2 + 2]
    )
    api_targets, html_targets = targets[0::2], targets[1::2]  # index -1 (the warm-up) is the spare last one

    cases = [
        (
            "list (all, active)",
            lambda n: api.get("/api/v1/conversations/"),
            lambda n: html.get("/inbox/?view=all", **partial),
        ),
        (
            "list (mine, open)",
            lambda n: api.get("/api/v1/conversations/?view=mine&status=open"),
            lambda n: html.get("/inbox/?view=mine&status=open", **partial),
        ),
        (
            "reply",
            lambda n: api.post(
                f"/api/v1/conversations/{api_targets[n]}/reply/",
                json.dumps({"body": f"API reply {n}"}),
                content_type="application/json",
            ),
            lambda n: html.post(f"/inbox/{html_targets[n]}/reply/", {"body": f"HTML reply {n}"}, **partial),
        ),
    ]
    print(f"\nServer time, {args.requests} sequential requests each (ms), {args.conversations:,} conversations")
    print(
        f"{'operation':20} {'API p50':>8} {'p95':>7} {'req/s':>7}   {'HTML p50':>8} {'p95':>7} {'req/s':>7}"
        f"   {'ratio p95':>9} {'req/s':>6}"
    )
    for label, via_api, via_html in cases:
        a = run(via_api, args.requests)
        h = run(via_html, args.requests)
        a_rps, h_rps = 1000 / statistics.mean(a), 1000 / statistics.mean(h)
        print(
            f"{label:20} {statistics.median(a):8.1f} {pct(a, 0.95):7.1f} {a_rps:7.0f}   {statistics.median(h):8.1f}"
            f" {pct(h, 0.95):7.1f} {h_rps:7.0f}   {pct(a, 0.95) / pct(h, 0.95):9.2f} {a_rps / h_rps:6.2f}"
        )


if __name__ == "__main__":
    main()
