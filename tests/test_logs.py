"""Logs: request ids, and LOG_FORMAT=json giving one JSON object per line from a real server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from pytake.logs import logging_config, request_id_from
from tests.browser import database_url_for_tests
from tests.inbox.live import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "incoming, kept",
    [
        ("req-abc123", True),
        ("3f2b9c1e-5d4a-4e7b-9a1c-0d2e3f4a5b6c", True),
        ("Root=1-5759e988-bd862e3fe1be46a994272793", True),
        ("", False),
        ("has space", False),
        ("<script>", False),
        ("x" * 129, False),
        ("line\nbreak", False),
        ("-leading-dash", False),
    ],
)
def test_only_sane_incoming_request_ids_are_kept(incoming, kept):
    result = request_id_from(incoming)
    if kept:
        assert result == incoming
    else:
        assert result != incoming and len(result) == 32 and int(result, 16) >= 0


@pytest.mark.django_db
def test_the_request_id_is_echoed_or_made():
    response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="edge-42")
    assert response["X-Request-ID"] == "edge-42"
    made = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="bad id!")["X-Request-ID"]
    assert made != "bad id!" and len(made) == 32
    assert Client().get("/accounts/login/")["X-Request-ID"] != made


def test_plain_text_stays_the_default_and_unknown_formats_are_refused():
    assert settings.LOG_FORMAT == "plain"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")


@pytest.mark.slow
def test_json_logs_carry_request_organization_and_user_ids(transactional_db, tenant_a, tmp_path):
    client = Client()
    client.force_login(tenant_a.agent, backend="django.contrib.auth.backends.ModelBackend")
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    port = free_port()
    log_path = tmp_path / "daphne.log"
    env = os.environ | {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEBUG": "0",
        "HTTPS": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "pytake.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "daphne did not start in 30 s"
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/no/such/page/",
            headers={"X-Request-ID": "req-json-1", "Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
        )
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(request, timeout=10)
        assert failure.value.code == 404
        assert failure.value.headers["X-Request-ID"] == "req-json-1"

        def lines():
            return [line for line in log_path.read_text().splitlines() if line.strip()]

        deadline = time.monotonic() + 10
        while not any("req-json-1" in line and "pytake.request" in line for line in lines()):
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(10)

    records = [json.loads(line) for line in lines()]  # every line is one JSON object
    assert all(isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record) for record in records)
    [not_found] = [r for r in records if r["logger"] == "django.request" and r.get("request_id") == "req-json-1"]
    assert not_found["message"] == "Not Found: /no/such/page/"
    assert not_found["level"] == "WARNING"
    assert not_found["organization_id"] == tenant_a.org.pk
    assert not_found["user_id"] == tenant_a.agent.pk
    [access] = [r for r in records if r["logger"] == "pytake.request" and r.get("request_id") == "req-json-1"]
    assert access["status"] == 404 and access["path"] == "/no/such/page/" and access["duration_ms"] >= 0
    assert access["user_id"] == tenant_a.agent.pk
    anonymous = [r for r in records if r["logger"] == "pytake.request" and r.get("path") == "/accounts/login/"]
    assert anonymous and anonymous[0]["user_id"] is None and len(anonymous[0]["request_id"]) == 32
