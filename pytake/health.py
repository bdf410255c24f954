"""``/health/``: 200 when every dependency answers, 503 naming the one that does not."""

import time

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from pytake.celery import app as celery_app


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    cache.set("health:ping", "pong", 5)
    if cache.get("health:ping") != "pong":
        raise RuntimeError("cache round-trip failed")


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_beat() -> None:
    from accounts.tasks import BEAT_HEARTBEAT_EVERY, BEAT_HEARTBEAT_KEY

    beat = cache.get(BEAT_HEARTBEAT_KEY)
    if beat is None or time.time() - beat > BEAT_HEARTBEAT_EVERY * 4:
        raise RuntimeError("no Beat heartbeat in the last two minutes")


CHECKS = {"database": _check_database, "redis": _check_redis, "broker": _check_broker, "beat": _check_beat}


@never_cache
def health(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure is reported, never raised
            results[name] = f"error: {error.__class__.__name__}"
        else:
            results[name] = "ok"
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503)
