"""A real Daphne process serving the project against the test database, for browser tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from conversations.channels import whatsapp
from tests.browser import database_url_for_tests

BASE_DIR = Path(__file__).resolve().parent.parent.parent
LOGS = BASE_DIR / "test-output" / "daphne"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database's URL, for TCP hosts and unix sockets (the embedded server) alike."""
    return database_url_for_tests()


class Daphne:
    def __init__(self, name: str, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.process: subprocess.Popen | None = None

    def start(self) -> Daphne:
        LOGS.mkdir(parents=True, exist_ok=True)
        env = os.environ | {
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "HTTPS": "0",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        log = open(LOGS / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytake.serve",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "tests.inbox.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}; see {LOGS / self.name}.log")
            try:
                urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("daphne did not start in 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def post_webhook(self, channel, *, phone: str, name: str, body: str, message_id: str) -> dict:
        payload = whatsapp.text_notification(
            phone_number_id=channel.phone_number_id,
            display_phone=channel.display_phone,
            wa_id=phone.lstrip("+"),
            name=name,
            body=body,
            message_id=message_id,
            timestamp=int(time.time()),
        )
        return self.post_raw(channel, payload)

    def post_raw(self, channel, payload: dict) -> dict:
        """A webhook notification as Meta posts it, signed with the channel's app secret."""
        raw = json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/webhooks/whatsapp/{channel.public_id}/",
            data=raw,
            method="POST",
            headers={
                "Content-Type": "application/json",
                whatsapp.SIGNATURE_HEADER: whatsapp.signature_for(raw, channel.app_secret),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture
def daphne(transactional_db, request):
    server = Daphne(request.node.name[:60]).start()
    yield server
    server.stop()
