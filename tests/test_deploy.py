"""Production settings: `check --deploy` is clean, and the CSP and layout rules hold on real pages."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.urls import reverse

BASE_DIR = Path(__file__).resolve().parent.parent


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "pytake.example.com",
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "pytake.settings",
        "ASSISTANT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    for test_only in ("HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE", "REDIS_KEY_PREFIX"):
        env.pop(test_only, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_insecure_default_key_is_flagged():
    """The development key must never pass the deploy check unnoticed."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "pytake.settings",
    }
    env.pop("SECRET_KEY", None)
    env.pop("HTTPS", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name", ["accounts:login", "dashboard", "accounts:team", "admin:index", "accounts:password_reset"]
)
def test_pages_have_a_strict_csp_and_no_inline_scripts(url_name, tenant_a, client_for):
    response = client_for(tenant_a.admin).get(reverse(url_name), follow=True)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    body = response.content.decode()
    inline_scripts = [
        tag for tag in re.findall(r"<script\b[^>]*>", body) if "src=" not in tag and "application/json" not in tag
    ]
    assert not inline_scripts, inline_scripts
    if url_name != "admin:index":
        assert re.search(r'<body[^>]*hx-headers=\'\{"X-CSRFToken": "[^"]+"\}\'', body)
        assert "/static/vendor/htmx/htmx-2.0.11.min.js" in body
        assert " style=" not in body


@pytest.mark.django_db
def test_health_reports_each_dependency(client):
    response = client.get(reverse("health"))
    payload = response.json()
    assert set(payload["checks"]) == {"database", "redis", "broker", "beat"}
    assert (
        payload["checks"]["database"] == "ok"
        and payload["checks"]["redis"] == "ok"
        and payload["checks"]["broker"] == "ok"
    )
    # No Beat is running in this test: health must say so with a 503.
    assert payload["checks"]["beat"].startswith("error")
    assert response.status_code == 503
