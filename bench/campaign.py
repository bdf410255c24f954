"""Campaign benchmark: a large campaign sent by ONE worker with the throttle off, against a bare ``requests`` loop.

    .venv/bin/python bench/campaign.py [--recipients 100000] [--compare 10000] [--concurrency N]

A local Graph API server (``tests/notifications/graph_server.py``: threaded, keep-alive) runs in its own
process on 127.0.0.1. For each audience size (``--compare`` first, then ``--recipients``), in a fresh
organization on the enterprise plan with the number's messaging tier unlimited:

1. baseline: a bare ``requests`` loop (one ``Session``, the same URL, headers and template body a
   campaign message carries) posting ``min(size, --baseline-messages)`` messages: messages/s;
2. PyTake: ``campaign_start`` (the audience frozen into recipient rows, the dispatch task published on
   commit) while ONE real worker process (``celery -A pytake worker``, prefork pool) is already up, and a
   stand-in for Beat runs ``campaigns_tick`` every second. Measured: the time ``campaign_start`` takes
   (what the person pressing "Start" waits for), the time from "start" to the first message at the Graph
   server, messages/s from the first to the last arrival, and the worker's peak memory (the largest
   ``VmHWM`` among the worker's processes, read from ``/proc`` before it stops).

Then the ratios: PyTake / requests loop (goal >= 0.5), and peak memory of the large audience / the
small one (goal: flat, about 1.0).

Uses a dedicated database ``pytake_bench_campaign`` (created, migrated, dropped) on the server of
``DATABASE_URL`` when set, else on the embedded PostgreSQL; Redis from ``REDIS_URL`` (or embedded)
under its own key prefix. Bounded: each delivery phase gives up after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import admin_connection, bench_database_url, graph_stats, requests_baseline, serve_graph  # noqa: E402 (after the path is set)

BENCH_DB = "pytake_bench_campaign"


def _session_pids(leader: int) -> list[int]:
    """The worker and its pool processes: every process of the worker's session."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:  # field 6 of /proc/<pid>/stat: the session id
            pids.append(int(entry.name))
    return pids


def _peak_rss_mib(pids: list[int]) -> float:
    """The largest resident-set high-water mark (``VmHWM``) among ``pids``, in MiB."""
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="the large audience")
    parser.add_argument("--compare", type=int, default=10_000, help="the small audience (peak memory baseline)")
    parser.add_argument("--baseline-messages", type=int, default=5_000, help="messages of the requests loop")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2, help="pool size of the one worker")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a delivery phase may take")
    args = parser.parse_args()
    if min(args.recipients, args.compare, args.baseline_messages, args.concurrency) < 1:
        parser.error("--recipients, --compare, --baseline-messages and --concurrency must be positive")

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

        from conversations.campaigns import selectors as campaign_selectors
        from conversations.campaigns import services
        from conversations.campaigns.models import CampaignStatus, MessagingTier
        from conversations.channels.whatsapp import wa_id
        from conversations.models import Contact
        from tests import factories
        from tests.campaigns import builders
        from tests.conversations import factories as cf
        from tests.notifications.worker import Worker, wait_until, worker_env

        call_command("migrate", verbosity=0)
        env = worker_env(
            database_url=database_url,
            redis_url=settings.REDIS_URL,
            key_prefix=settings.REDIS_KEY_PREFIX,
            smtp_port=1,
            WHATSAPP_GRAPH_BASE_URL=graph_base,
        )
        print(
            f"database {BENCH_DB}; audiences {args.compare:,} and {args.recipients:,}; one worker, pool of "
            f"{args.concurrency}, campaign batch {services.batch_size()}, in flight at most "
            f"{services.max_in_flight()}; {os.cpu_count()} CPUs; Graph API stand-in on 127.0.0.1:{port} (own process)"
        )

        def run(size: int) -> dict:
            org = factories.organization(plan="enterprise", slug=f"bench-{size}")
            channel = cf.channel(org)
            services.channel_tier_set(channel=channel, messaging_tier=MessagingTier.UNLIMITED)
            admin = factories.member(org, "org_admin").user
            created = time.perf_counter()
            batch = 5000
            for offset in range(0, size, batch):
                Contact.objects.bulk_create(
                    Contact(
                        organization=org,
                        name=f"Cliente {n}",
                        phone=f"+55119{n + 60_000_000:08d}",
                        marketing_opt_in=True,
                    )
                    for n in range(offset, min(offset + batch, size))
                )
            print(f"  {size:,} contacts written in {time.perf_counter() - created:.1f} s")
            campaign = builders.campaign(org, admin, channel=channel)
            one = Contact.objects.filter(organization=org).order_by("pk").first()
            rendered = campaign_selectors.render_for(campaign, one)
            body = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": wa_id(one.phone),
                "type": "template",
                "template": rendered.graph_template,
            }
            base_rate = requests_baseline(
                f"{graph_base}/{channel.phone_number_id}/messages",
                channel.access_token,
                body,
                min(size, args.baseline_messages),
            )

            before = graph_stats(port, 0)["count"]
            worker = Worker(
                env, concurrency=args.concurrency, log_path=ROOT / "test-output" / "bench-campaign-worker.log"
            ).start()
            try:
                time.sleep(3)  # the worker is up and idle before "start", as in production
                started = time.monotonic()
                services.campaign_start(campaign=campaign, by=admin)
                start_call = time.monotonic() - started
                last_tick = [0.0]
                last_report = [time.monotonic()]

                def arrived() -> bool:
                    now = time.monotonic()
                    if now - last_tick[0] >= 1:
                        services.campaigns_tick()  # what Beat does
                        last_tick[0] = now
                    count = graph_stats(port, before)["count"] - before
                    if now - last_report[0] >= 15:
                        print(f"    … {count:,} of {size:,} at the Graph server", flush=True)
                        last_report[0] = now
                    return count >= size

                wait_until(arrived, timeout=args.timeout, what=f"{size} campaign messages", interval=0.25)
                stats = graph_stats(port, before)
                peak = _peak_rss_mib(_session_pids(worker.process.pid))
                campaign.refresh_from_db()
                wait_until(
                    lambda: (campaign.refresh_from_db() or campaign.status) == CampaignStatus.COMPLETED,
                    timeout=120,
                    what="the campaign completed",
                    interval=0.5,
                )
            finally:
                worker.stop()
            rate = (size - 1) / (stats["last_at"] - stats["first_at"]) if size > 1 else float("nan")
            figures = {
                "size": size,
                "baseline": base_rate,
                "rate": rate,
                "ratio": rate / base_rate,
                "start_call": start_call,
                "first": stats["first_at"] - started,
                "total": stats["last_at"] - started,
                "arrived": stats["count"] - before,
                "peak": peak,
            }
            print(
                f"  {size:>7,} recipients: requests loop {base_rate:7.1f} msg/s   PyTake worker {rate:7.1f} msg/s   "
                f"ratio {figures['ratio']:5.2f}   campaign_start {start_call:6.2f} s   start → first message "
                f"{figures['first']:6.2f} s   all sent in {figures['total']:7.1f} s   worker peak RSS {peak:6.1f} MiB   "
                f"({figures['arrived']:,} requests arrived)"
            )
            return figures

        small, large = run(args.compare), run(args.recipients)
        print("summary:")
        print(
            f"  messages/s, {large['size']:,} recipients: PyTake {large['rate']:.1f} vs requests loop "
            f"{large['baseline']:.1f}: ratio {large['ratio']:.2f} (goal >= 0.5)"
        )
        print(
            f"  worker peak RSS: {large['peak']:.1f} MiB at {large['size']:,} vs {small['peak']:.1f} MiB at "
            f"{small['size']:,}: ratio {large['peak'] / small['peak']:.2f} (goal: flat)"
        )
        print(
            f"  start → first message: {large['first']:.2f} s at {large['size']:,} vs {small['first']:.2f} s at "
            f"{small['size']:,} (campaign_start itself: {large['start_call']:.2f} s vs {small['start_call']:.2f} s)"
        )
        print(
            f"  duplicates at the Graph server: {large['arrived'] - large['size'] + small['arrived'] - small['size']}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        with admin_connection(database_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        server.terminate()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
