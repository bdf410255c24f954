"""Realtime inbox: webhook-to-visible latency under load, and delivered events/s, with 1 and 2 Daphnes.

    .venv/bin/python bench/realtime.py [--clients 200] [--rate 50] [--seconds 10] [--burst 300]
                                       [--processes 1,2]

For each Daphne process count in ``--processes`` (the clients split evenly over them):

1. Latency: ``--clients`` inbox websockets (session auth, one agent's session, spread over two
   client processes) stay connected while signed WhatsApp webhooks arrive at ``--rate`` per
   second for ``--seconds`` (alternating over the processes). The ``message.received`` event
   carries the rendered message, so its arrival is the moment the message is *visible in the
   tab* (no fetch follows); latency is that moment minus the moment the webhook POST started.
   Prints p50/p99, the delivered share of (message, client) pairs, the ``resync`` frames (the
   server's "you missed something, reload" — overload made visible) and the webhook answer time.
2. Throughput: ``--burst`` events appended to the organization's stream as fast as Redis takes
   them, delivered to the inbox clients; then the same count of group messages to a bare
   Channels echo consumer (joins a group, forwards each group message as a frame) on the same
   Daphne(s) and the project's Redis channel layer. Prints delivered events/s of each and the
   ratio inbox/echo. (Echo messages over the layer's per-channel capacity are dropped silently by
   channels_redis; ``--capacity`` raises it for a run.)

A dedicated database (``<DATABASE_URL name>_bench_realtime``) is dropped and recreated each
run. Loopback only; every phase is bounded in count and time. Daphne imports this module as
``bench.realtime:application`` (the echo route plus the project's websocket stack).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

ECHO_GROUP = "bench-echo"
KEY_PREFIX = "pytake-bench-realtime"
CLIENT_PROCESSES = 2


# --- the ASGI application Daphne serves ------------------------------------------------------------


def apply_capacity() -> None:
    """``--capacity`` / ``--pubsub``: the channel layer of this run (both processes)."""
    from django.conf import settings

    capacity = os.environ.get("PYTAKE_BENCH_CAPACITY")
    if capacity:
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = int(capacity)
    if os.environ.get("PYTAKE_BENCH_PUBSUB"):
        config = settings.CHANNEL_LAYERS["default"]
        config["BACKEND"] = "channels_redis.pubsub.RedisPubSubChannelLayer"
        config["CONFIG"] = {key: value for key, value in config["CONFIG"].items() if key in ("hosts", "prefix")}


def build_application():
    apply_capacity()
    from django.core.asgi import get_asgi_application

    django_asgi_app = get_asgi_application()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter

    from pytake.asgi import application as project

    class EchoConsumer(AsyncWebsocketConsumer):
        """The baseline: no auth, no tenant, no checks; a group message becomes a frame."""

        async def connect(self):
            await self.channel_layer.group_add(ECHO_GROUP, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(ECHO_GROUP, self.channel_name)

        async def bench_event(self, message):
            await self.send(text_data=json.dumps({"type": "event", "n": message["n"]}, separators=(",", ":")))

    echo = EchoConsumer.as_asgi()
    project_websocket = project.application_mapping["websocket"]

    async def websocket(scope, receive, send):
        if scope["path"] == "/ws/echo/":
            return await echo(scope, receive, send)
        return await project_websocket(scope, receive, send)

    return ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket})


if __name__ != "__main__" and os.environ.get("PYTAKE_BENCH_REALTIME") == "daphne":
    application = build_application()


# --- websocket clients (run in child processes) ----------------------------------------------------


def client_process(
    uri: str, origin: str, cookie: str, count: int, mode: str, ready, results, stop, seconds: float
) -> None:
    asyncio.run(_clients(uri, origin, cookie, count, mode, ready, results, stop, seconds))


async def _clients(uri, origin, cookie, count, mode, ready, results, stop, seconds) -> None:
    from websockets.asyncio.client import connect

    received: list[tuple[int, float]] = []
    tally = {"frames": 0, "events": 0, "resyncs": 0, "first": None, "last": None}
    connected = asyncio.Semaphore(0)

    async def one():
        async with connect(
            uri,
            origin=origin,
            additional_headers={"Cookie": cookie},
            open_timeout=60,
            ping_interval=None,
            max_queue=None,
        ) as ws:
            connected.release()
            async for raw in ws:
                now = time.time()
                if raw.startswith('{"type":"resync"'):
                    tally["resyncs"] += 1
                    continue
                if not raw.startswith(('{"type":"event"', '{"type":"events"')):
                    continue
                if mode == "latency":
                    frame = json.loads(raw)
                    for event in frame["events"] if frame["type"] == "events" else [frame]:
                        if event.get("event") == "message.received" and event.get("html"):
                            received.append((event["message_id"], now))
                else:
                    tally["frames"] += 1
                    tally["events"] += raw.count('"type":"event"')
                    tally["first"] = tally["first"] or now
                    tally["last"] = now

    tasks = []
    for start in range(0, count, 20):  # connect in waves: each connect reads the session and the tenant
        batch = [asyncio.create_task(one()) for _ in range(min(20, count - start))]
        tasks += batch
        for _ in batch:
            await asyncio.wait_for(connected.acquire(), 240)
    ready.put(count)
    await asyncio.get_running_loop().run_in_executor(None, stop.wait, seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    results.put((received, tally))


class Clients:
    """``count`` websocket clients spread over child processes, for one phase."""

    def __init__(self, uris: list[str], origin: str, cookie: str, count: int, mode: str, seconds: float):
        context = multiprocessing.get_context("spawn")
        self.ready, self.results, self.stop = context.Queue(), context.Queue(), context.Event()
        shares = [
            count // CLIENT_PROCESSES + (1 if n < count % CLIENT_PROCESSES else 0) for n in range(CLIENT_PROCESSES)
        ]
        self.processes = [
            context.Process(
                target=client_process,
                args=(uris[n % len(uris)], origin, cookie, share, mode, self.ready, self.results, self.stop, seconds),
            )
            for n, share in enumerate(shares)
            if share
        ]

    def __enter__(self):
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self.ready.get(timeout=300)
        return self

    def collect(self) -> list:
        self.stop.set()
        out = [self.results.get(timeout=60) for _ in self.processes]
        for process in self.processes:
            process.join(10)
        return out

    def __exit__(self, *exc):
        for process in self.processes:
            if process.is_alive():
                process.terminate()


# --- the bench ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def setup_data():
    from django.test import Client

    from accounts import services as account_services
    from conversations.models import Channel, ChannelKind

    org = account_services.organization_create(name="Bench realtime", slug="bench-realtime", plan="enterprise")
    department = account_services.department_create(organization=org, name="Support")
    queue = account_services.queue_create(department=department, name="Support", routing_strategy="manual")
    agent = account_services.member_add(organization=org, email="agent@realtime.bench", password="bench-password-123")
    queue.agents.add(agent)  # the tabs are the queue's agent's: they may see its conversations
    channel = Channel(
        organization=org,
        name="Bench WhatsApp",
        kind=ChannelKind.WHATSAPP,
        display_phone="+5511955550000",
        phone_number_id="100000000000001",
        access_token="bench-token",
        app_secret="bench-secret",
        verify_token="bench-verify",
        default_queue=queue,
    )
    channel.full_clean()
    channel.save()
    client = Client()
    client.force_login(agent.user, backend="django.contrib.auth.backends.ModelBackend")
    return org, channel, f"sessionid={client.cookies['sessionid'].value}"


def post_webhook(base_url: str, channel, n: int) -> tuple[str, float, float]:
    from conversations.channels import whatsapp

    provider_id = f"wamid.bench-{n}"
    phone = f"55119{70000000 + n % 50:08d}"
    payload = whatsapp.text_notification(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        wa_id=phone,
        name=f"Bench {n % 50}",
        body=f"bench message {n}",
        message_id=provider_id,
        timestamp=int(time.time()),
    )
    raw = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{base_url}/webhooks/whatsapp/{channel.public_id}/",
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            whatsapp.SIGNATURE_HEADER: whatsapp.signature_for(raw, channel.app_secret),
        },
    )
    started = time.time()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return provider_id, started, time.time() - started


def latency_phase(args, base_urls, channel, cookie, first: int) -> dict:
    from conversations.models import Message

    total = args.rate * args.seconds
    ws_uris = [url.replace("http://", "ws://") + "/ws/inbox/" for url in base_urls]
    with Clients(ws_uris, base_urls[0], cookie, args.clients, "latency", args.seconds + 60) as clients:
        print(f"latency: {args.clients} clients connected; sending {total} webhooks at {args.rate}/s", flush=True)
        sent: dict[str, float] = {}
        server_times = []
        with ThreadPoolExecutor(32) as pool:
            start = time.time() + 0.5
            futures = []
            for n in range(total):
                delay = start + n / args.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(post_webhook, base_urls[n % len(base_urls)], channel, first + n))
            for future in futures:
                provider_id, started, took = future.result()
                sent[provider_id] = started
                server_times.append(took * 1000)
        send_span = max(sent.values()) - min(sent.values())
        time.sleep(min(30, 3 + total * args.clients / 20000))  # let the queued frames drain (bounded)
        chunks = clients.collect()
        received = [item for chunk, _tally in chunks for item in chunk]
        resyncs = sum(tally["resyncs"] for _chunk, tally in chunks)
    by_message = dict(Message.objects.filter(provider_message_id__in=sent).values_list("pk", "provider_message_id"))
    latencies = [(at - sent[by_message[message_id]]) * 1000 for message_id, at in received if message_id in by_message]
    expected = total * args.clients
    print(
        f"webhook answer time (ms): p50 {statistics.median(server_times):.1f}, p99 {pct(server_times, 0.99):.1f}; "
        f"{total} sent in {send_span:.1f} s ({total / max(send_span, 0.001):.1f}/s achieved)"
    )
    if latencies:
        print(
            f"webhook -> visible in the tab (ms): p50 {statistics.median(latencies):.1f}, "
            f"p99 {pct(latencies, 0.99):.1f}, max {max(latencies):.1f}; "
            f"delivered {len(latencies)}/{expected} ({100 * len(latencies) / expected:.1f}%); resyncs {resyncs}",
            flush=True,
        )
    else:
        print(f"webhook -> client latency: no frame arrived; resyncs {resyncs}")
    return {
        "p50": statistics.median(latencies) if latencies else None,
        "p99": pct(latencies, 0.99) if latencies else None,
        "share": len(latencies) / expected,
        "resyncs": resyncs,
        "answer_p99": pct(server_times, 0.99),
    }


def throughput_phase(args, base_urls, cookie, path: str, send_burst) -> float:
    ws_uris = [url.replace("http://", "ws://") + path for url in base_urls]
    with Clients(ws_uris, base_urls[0], cookie, args.clients, "count", 300) as clients:
        time.sleep(1)
        started = time.time()
        send_burst()
        sent_in = time.time() - started
        time.sleep(min(60, 4 + args.burst * args.clients / 5000))  # the clients drain what is queued for them
        tallies = [tally for _chunk, tally in clients.collect()]
    events = sum(t["events"] for t in tallies)
    frames = sum(t["frames"] for t in tallies)
    resyncs = sum(t["resyncs"] for t in tallies)
    last = max((t["last"] for t in tallies if t["last"]), default=started)
    rate = events / max(last - started, 0.001)
    expected = args.burst * args.clients
    print(
        f"{path} x{len(base_urls)}: {args.burst} sent in {sent_in:.2f} s; {events}/{expected} events delivered "
        f"({100 * events / expected:.1f}%) in {frames} frames, {last - started:.2f} s = {rate:,.0f} events/s; "
        f"resyncs {resyncs}",
        flush=True,
    )
    return rate


def inbox_burst(org, count: int):
    from conversations.inbox import realtime

    html = '<li class="msg msg-inbound" id="message-{n}" data-message-id="{n}">' + "x" * 600 + "</li>"

    def send():
        pipe_size = 50
        for start in range(0, count, pipe_size):
            for n in range(start, min(count, start + pipe_size)):
                realtime.publish(
                    org.pk,
                    {
                        "event": "message.received",
                        "conversation_id": n + 1,
                        "message_id": n + 1,
                        "html": {"en": html.format(n=n + 1)},
                        "queues": [],
                        "users": [],
                    },
                )

    return send


def echo_burst(count: int):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def burst():
        for n in range(count):
            await layer.group_send(ECHO_GROUP, {"type": "bench.event", "n": n})

    return lambda: async_to_sync(burst)()


def start_worker(log_dir: Path):
    """``--webhooks task``: the Celery worker that applies the stored deliveries (threads: they wait on PostgreSQL)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pytake", "worker", "-l", "warning", "--pool", "threads"]
        + ["--concurrency", "8", "-n", f"bench-{os.getpid()}@%h"],
        cwd=BASE_DIR,
        env=os.environ | {"WHATSAPP_WEBHOOK_INLINE": "0"},
        stdout=open(log_dir / "realtime-worker.log", "wb"),
        stderr=subprocess.STDOUT,
    )


def start_daphnes(count: int, log_dir: Path, inline: bool = True) -> tuple[list, list[str]]:
    env = os.environ | {
        "PYTAKE_BENCH_REALTIME": "daphne",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "WHATSAPP_WEBHOOK_INLINE": "1" if inline else "0",
    }
    processes, urls = [], []
    for n in range(count):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.realtime:application"],
                cwd=BASE_DIR,
                env=env,
                stdout=open(log_dir / f"realtime-daphne-{n}.log", "wb"),
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.time() + 60
    for process, url in zip(processes, urls, strict=True):
        while True:
            try:
                urllib.request.urlopen(f"{url}/accounts/login/", timeout=2)
                break
            except OSError as error:
                if process.poll() is not None or time.time() > deadline:
                    stop_daphnes(processes)
                    raise SystemExit(f"daphne did not start ({error}); see {log_dir}") from None
                time.sleep(0.3)
    return processes, urls


def stop_daphnes(processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--processes", default="1,2", help="Daphne process counts to run, e.g. 1 or 1,2")
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput phases (for a sweep of loads)")
    parser.add_argument(
        "--webhooks",
        choices=("inline", "task"),
        default="inline",
        help="apply deliveries in the webhook request (inline) or answer once stored and apply in a Celery worker",
    )
    parser.add_argument(
        "--capacity", type=int, default=0, help="channel layer capacity per channel (default: the project's setting)"
    )
    parser.add_argument(
        "--pubsub",
        action="store_true",
        help="use channels_redis' RedisPubSubChannelLayer instead of the project's layer",
    )
    args = parser.parse_args()
    try:
        processes = [int(part) for part in args.processes.split(",")]
    except ValueError:
        parser.error("--processes: comma-separated counts, e.g. 1,2")
    if not all(1 <= count <= 4 for count in processes):
        parser.error("--processes: each count between 1 and 4")
    if not (
        1 <= args.clients <= 1000
        and 1 <= args.rate <= 500
        and 1 <= args.seconds <= 60
        and 1 <= args.burst <= 5000
        and 0 <= args.capacity <= 1_000_000
    ):
        parser.error("bounds: clients 1-1000, rate 1-500, seconds 1-60, burst 1-5000, capacity 0-1,000,000")

    from bench.inbox import bench_database_url, recreate_database

    url, admin_url, name = bench_database_url("_bench_realtime")
    print(f"database {name}: recreating", flush=True)
    recreate_database(admin_url, name)
    os.environ.update(DATABASE_URL=url, REDIS_KEY_PREFIX=KEY_PREFIX, DJANGO_SETTINGS_MODULE="tests.settings", HTTPS="0")
    if args.capacity:
        os.environ["PYTAKE_BENCH_CAPACITY"] = str(args.capacity)
    if args.pubsub:
        os.environ["PYTAKE_BENCH_PUBSUB"] = "1"
    import django

    django.setup()
    apply_capacity()
    import logging

    from django.conf import settings
    from django.core.management import call_command

    logging.getLogger("channels_redis").setLevel(logging.WARNING)  # "over capacity" lines: counted below instead

    call_command("migrate", verbosity=0)
    org, channel, cookie = setup_data()
    log_dir = BASE_DIR / "test-output" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    config = settings.CHANNEL_LAYERS["default"]
    capacity = config["CONFIG"].get("capacity", 100) if "pubsub" not in config["BACKEND"] else "n/a"
    print(f"echo baseline layer: {config['BACKEND']} capacity {capacity}", flush=True)

    figures = {}
    webhooks_sent = 0
    worker = start_worker(log_dir) if args.webhooks == "task" else None
    for count in processes:
        daphnes, urls = start_daphnes(count, log_dir, inline=args.webhooks == "inline")
        try:
            print(f"--- {count} Daphne process(es), webhooks {args.webhooks}: {', '.join(urls)}", flush=True)
            latency = latency_phase(args, urls, channel, cookie, webhooks_sent)
            webhooks_sent += args.rate * args.seconds
            if args.latency_only:
                figures[count] = (latency, None, None)
                continue
            time.sleep(3)
            inbox_rate = throughput_phase(args, urls, cookie, "/ws/inbox/", inbox_burst(org, args.burst))
            time.sleep(3)
            echo_rate = throughput_phase(args, urls, cookie, "/ws/echo/", echo_burst(args.burst))
            print(
                f"delivered events/s, inbox consumer / bare echo consumer: {inbox_rate:,.0f} / {echo_rate:,.0f} "
                f"= {inbox_rate / echo_rate:.2f}",
                flush=True,
            )
            figures[count] = (latency, inbox_rate, echo_rate)
        finally:
            stop_daphnes(daphnes)
    if worker is not None:
        stop_daphnes([worker])
    if 1 in figures and 2 in figures and not args.latency_only:
        one, two = figures[1][1], figures[2][1]
        print(f"inbox events/s, two Daphne processes / one: {two:,.0f} / {one:,.0f} = {two / one:.2f}")


if __name__ == "__main__":
    main()
