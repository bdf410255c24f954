"""Realtime inbox: webhook-to-client latency under load, and one Daphne's delivered events/s.

    .venv/bin/python bench/realtime.py [--clients 200] [--rate 50] [--seconds 10] [--burst 300]

1. Latency: one Daphne process serves the project; ``--clients`` inbox websockets (session auth,
   one agent's session, spread over two client processes) stay connected while signed WhatsApp
   webhooks arrive at ``--rate`` per second for ``--seconds``. Each client notes when the
   ``message.received`` frame of each message reaches it; latency is that moment minus the
   moment the webhook POST started. Prints p50/p99 and how many (message, client) frames arrived.
2. Throughput: the same number of clients on the inbox consumer, then on a bare Channels echo
   consumer (joins a group, forwards each group message as a frame) served by the same Daphne
   on the same Redis channel layer; ``--burst`` group messages are sent as fast as the layer
   takes them. Prints delivered frames/s of each and the ratio inbox/echo.

Messages over the layer's per-channel capacity are dropped by channels_redis (all consumers of
one process share a channel key); ``--capacity`` raises it for a run to see the process's
throughput without drops.

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
    tally = {"frames": 0, "first": None, "last": None}
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
                if mode == "latency":
                    if '"message.received"' in raw:
                        received.append((json.loads(raw)["message_id"], now))
                elif '"type":"event"' in raw:
                    tally["frames"] += 1
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
    results.put(received if mode == "latency" else tally)


class Clients:
    """``count`` websocket clients spread over child processes, for one phase."""

    def __init__(self, uri: str, origin: str, cookie: str, count: int, mode: str, seconds: float):
        context = multiprocessing.get_context("spawn")
        self.ready, self.results, self.stop = context.Queue(), context.Queue(), context.Event()
        shares = [
            count // CLIENT_PROCESSES + (1 if n < count % CLIENT_PROCESSES else 0) for n in range(CLIENT_PROCESSES)
        ]
        self.processes = [
            context.Process(
                target=client_process,
                args=(uri, origin, cookie, share, mode, self.ready, self.results, self.stop, seconds),
            )
            for share in shares
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


def latency_phase(args, base_url, ws_base, channel, cookie) -> None:
    from conversations.models import Message

    total = args.rate * args.seconds
    with Clients(f"{ws_base}/ws/inbox/", base_url, cookie, args.clients, "latency", args.seconds + 60) as clients:
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
                futures.append(pool.submit(post_webhook, base_url, channel, n))
            for future in futures:
                provider_id, started, took = future.result()
                sent[provider_id] = started
                server_times.append(took * 1000)
        send_span = max(sent.values()) - min(sent.values())
        time.sleep(min(90, 5 + total * args.clients / 2000))  # let the queued frames drain (bounded)
        received = [item for chunk in clients.collect() for item in chunk]
    by_message = dict(Message.objects.filter(provider_message_id__in=sent).values_list("pk", "provider_message_id"))
    latencies = [(at - sent[by_message[message_id]]) * 1000 for message_id, at in received if message_id in by_message]
    expected = total * args.clients
    print(
        f"webhook answer time (ms): p50 {statistics.median(server_times):.1f}, p99 {pct(server_times, 0.99):.1f}; "
        f"{total} sent in {send_span:.1f} s ({total / max(send_span, 0.001):.1f}/s achieved)"
    )
    if latencies:
        print(
            f"webhook -> client latency (ms): p50 {statistics.median(latencies):.1f}, p99 {pct(latencies, 0.99):.1f}, "
            f"max {max(latencies):.1f}; frames {len(latencies)}/{expected} ({100 * len(latencies) / expected:.1f}%)"
        )
    else:
        print("webhook -> client latency: no frame arrived")


def throughput_phase(args, base_url, ws_base, cookie, path: str, group: str, message_type: str) -> float:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    with Clients(f"{ws_base}{path}", base_url, cookie, args.clients, "count", 300) as clients:
        time.sleep(1)

        async def burst():
            for n in range(args.burst):
                await layer.group_send(
                    group,
                    {"type": message_type, "n": n, "event": "bench", "conversation_id": n + 1, "message_id": n + 1},
                )

        started = time.time()
        async_to_sync(burst)()
        sent_in = time.time() - started
        time.sleep(min(120, 10 + args.burst * args.clients / 1000))  # the clients drain what is queued for them
        tallies = clients.collect()
    frames = sum(t["frames"] for t in tallies)
    last = max((t["last"] for t in tallies if t["last"]), default=started)
    rate = frames / max(last - started, 0.001)
    expected = args.burst * args.clients
    print(
        f"{path}: {args.burst} group messages sent in {sent_in:.2f} s; {frames}/{expected} frames delivered "
        f"({100 * frames / expected:.1f}%) in {last - started:.2f} s = {rate:,.0f} frames/s",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument(
        "--capacity", type=int, default=0, help="channel layer capacity per channel (default: the project's setting)"
    )
    parser.add_argument(
        "--pubsub",
        action="store_true",
        help="use channels_redis' RedisPubSubChannelLayer instead of the project's layer",
    )
    args = parser.parse_args()
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

    port = free_port()
    base_url, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    log_path = BASE_DIR / "test-output" / "bench" / "realtime-daphne.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = os.environ | {
        "PYTAKE_BENCH_REALTIME": "daphne",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.realtime:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/accounts/login/", timeout=2)
                break
            except OSError as error:
                if daphne.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"daphne did not start ({error}); see {log_path}") from None
                time.sleep(0.3)
        config = settings.CHANNEL_LAYERS["default"]
        capacity = config["CONFIG"].get("capacity", 100) if "pubsub" not in config["BACKEND"] else "n/a"
        print(f"daphne on {base_url} (one process), {config['BACKEND']} capacity {capacity}", flush=True)
        latency_phase(args, base_url, ws_base, channel, cookie)
        time.sleep(15)  # let Daphne drain what the latency phase left queued
        inbox_rate = throughput_phase(
            args, base_url, ws_base, cookie, "/ws/inbox/", f"org-{org.pk}.inbox", "inbox.event"
        )
        time.sleep(15)  # the inbox clients' disconnects (presence writes) finish before the echo phase
        echo_rate = throughput_phase(args, base_url, ws_base, cookie, "/ws/echo/", ECHO_GROUP, "bench.event")
        print(
            f"delivered frames/s, inbox consumer / bare echo consumer: {inbox_rate:,.0f} / {echo_rate:,.0f} = {inbox_rate / echo_rate:.2f}"
        )
    finally:
        daphne.terminate()
        try:
            daphne.wait(10)
        except subprocess.TimeoutExpired:
            daphne.kill()


if __name__ == "__main__":
    main()
