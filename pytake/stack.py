"""``python -m pytake.stack``: the whole stack in one command (``make run``).

Owns the embedded PostgreSQL and Redis when ``DATABASE_URL`` / ``REDIS_URL`` are unset, migrates,
loads the demo data on first start, then runs Daphne, a Celery worker and Celery Beat as
children, sharing one (freshly emptied) ``PROMETHEUS_MULTIPROC_DIR`` for ``/metrics``. Ctrl-C
(SIGINT) or SIGTERM stops the children, then the embedded servers. If one child dies, the others
are stopped too and the exit code says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pytake import embedded

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _say(message: str) -> None:
    print(f"[pytake] {message}", flush=True)


def _manage(*args: str, env: dict) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def _wait_for_port(host: str, port: int, timeout: float, children: dict) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in children.values()):
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(children: dict[str, subprocess.Popen], timeout: float = 15) -> None:
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop in time; killing it")
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", "2")))
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    env.setdefault("DEBUG", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not env.get("DATABASE_URL"):
        _say(f"starting the embedded PostgreSQL in {embedded.data_dir() / 'postgres'}")
        env["DATABASE_URL"] = embedded.ensure_database_url()
    if not env.get("REDIS_URL"):
        _say(f"starting the embedded Redis in {embedded.data_dir()}")
        env["REDIS_URL"] = embedded.ensure_redis_url()

    # Prometheus multiprocess mode: Daphne, the worker's pool and Beat write their metrics to files
    # here and /metrics adds them up; emptied at every start so no dead process is counted.
    metrics_dir = Path(env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(embedded.data_dir() / "prometheus")))
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)

    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            _say("stopping…")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        _say("applying migrations")
        _manage("migrate", "--noinput", "-v", "0", env=env)
        _manage("install_periodic_tasks", env=env)
        _manage("seed_demo", "--if-empty", env=env)
    except subprocess.CalledProcessError as error:
        _say(f"set-up failed: {' '.join(map(str, error.cmd[2:]))} exited with {error.returncode}")
        return 1
    if stopping:
        return 130

    json_logs = env.get("LOG_FORMAT") == "json"
    quiet = ["--quiet"] if json_logs else []  # Celery's start-up banners are not log lines
    commands = {
        # With JSON logs Daphne's own access lines (plain text on stdout) give way to pytake.request's.
        "web": [PYTHON, "-m", "pytake.serve", *(["-v", "0"] if json_logs else [])]
        + ["-b", args.host, "-p", str(args.port), "pytake.asgi:application"],
        "worker": [
            PYTHON,
            "-m",
            "celery",
            *quiet,
            "-A",
            "pytake",
            "worker",
            "-l",
            "info",
            "--concurrency",
            str(args.concurrency),
            "-n",
            f"worker-{os.getpid()}@%h",
        ],
        "beat": [
            PYTHON,
            "-m",
            "celery",
            *quiet,
            "-A",
            "pytake",
            "beat",
            "-l",
            "info",
            "--schedule",
            str(embedded.data_dir() / "celerybeat-schedule"),
        ],
    }
    for name, command in commands.items():
        # Own process groups: Ctrl-C reaches only this runner, which stops the children in order.
        children[name] = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)

    url = f"http://{args.host}:{args.port}/"
    if _wait_for_port(args.host, args.port, 60, children):
        from accounts.demo_data import logins_text

        _say(f"PyTake is running at {url}  (admin: {url}admin/)  — Ctrl-C stops everything")
        _say(logins_text())
    exit_code = 0
    while not stopping:
        dead = [name for name, proc in children.items() if proc.poll() is not None]
        if dead:
            _say(f"{', '.join(dead)} exited (code {children[dead[0]].returncode}); stopping the rest")
            exit_code = 1
            break
        time.sleep(0.3)
    _stop(children)
    _say("stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
