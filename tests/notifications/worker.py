"""A real Celery worker process on the test database and this run's Redis prefix (reliability tests, bench),
and the waits that go with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def worker_env(*, database_url: str, redis_url: str, key_prefix: str, smtp_port: int, **extra) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pytake.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "HTTPS": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_USE_TLS": "0",
        "NOTIFICATIONS_RETRY_BASE_SECONDS": "0.01",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "300",
        **extra,
    }


class Worker:
    """``celery -A pytake worker`` in its own process group (SIGKILL takes its pool children too)."""

    def __init__(
        self, env: dict, *, concurrency: int = 4, prefetch_multiplier: int | None = None, log_path: Path | None = None
    ):
        self.env = env
        self.concurrency = concurrency
        self.prefetch_multiplier = prefetch_multiplier
        self.log_path = log_path or ROOT / "test-output" / f"celery-worker-{os.getpid()}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "pytake",
                "worker",
                f"--loglevel={self.env.get('WORKER_LOG_LEVEL', 'WARNING')}",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *([f"--prefetch-multiplier={self.prefetch_multiplier}"] if self.prefetch_multiplier else []),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self) -> None:
        """A crash: SIGKILL to the worker and its pool processes, no warm shutdown, no acks."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition`` until truthy; a deadline only so that a broken system fails instead of hanging."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(interval)


def status_counts(ids) -> dict[str, int]:
    from notifications.models import NotificationLog, Status

    rows = NotificationLog.objects.filter(pk__in=ids)
    return {s: rows.filter(status=s).count() for s in (Status.PENDING, Status.SENDING, Status.SENT, Status.FAILED)}


def settled(ids, *, pause: float = 0.5):
    """A ``wait_until`` condition: the rows ``ids`` stopped changing (the worker has nothing left it can do)."""
    previous = None

    def check():
        nonlocal previous
        now = status_counts(ids)
        stable = now == previous
        previous = now
        if stable:
            return now
        time.sleep(pause)
        return None

    return check
