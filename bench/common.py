"""Helpers the outbound benchmarks share: a throw-away database, the Graph API stand-in in its own process,
and the bare ``requests`` loop they are measured against."""

from __future__ import annotations

import json
import os
import time
import urllib.request


def bench_database_url(name: str) -> str:
    """``name`` on the server of ``DATABASE_URL`` when set, else on the embedded PostgreSQL."""
    from urllib.parse import urlsplit, urlunsplit

    from pytake import embedded

    base = os.environ.get("DATABASE_URL") or embedded.ensure_database_url()
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def admin_connection(url: str):
    """An autocommit connection to the ``postgres`` database of ``url``'s server (to create and drop)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    return psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True)


def serve_graph(ports) -> None:
    """The Graph API stand-in, in a process of its own (it does not share the GIL with what it measures)."""
    from tests.notifications.graph_server import GraphServer

    with GraphServer(record_bodies=False) as server:
        ports.put(server.port)
        while True:
            time.sleep(3600)


def graph_stats(port: int, since: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats?since={since}", timeout=10) as response:  # noqa: S310
        return json.load(response)


def requests_baseline(url: str, token: str, body: dict, count: int) -> float:
    """Messages per second of a bare ``requests`` loop (one ``Session``) posting ``body`` ``count`` times."""
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    for _ in range(count):
        response = session.post(url, json=body, headers=headers, timeout=10)
        response.raise_for_status()
        assert response.json()["messages"][0]["id"]
    return count / (time.perf_counter() - start)
