"""A local HTTP server standing in for the WhatsApp Graph API (reliability tests, the outbound bench).

A worker in another process reaches it over 127.0.0.1 (``WHATSAPP_GRAPH_BASE_URL``). Every
``POST …/messages`` is answered as Meta does, ``{"messages": [{"id": "wamid…"}]}``, and recorded
*when its body has arrived*: from then on the provider has the message, whatever happens to the
client (that is the moment a real Graph API may already be delivering it). Tests tag what they
send with ``[m:<n>]`` markers and count them with ``markers()``.

``hold_after(n)`` makes the requests after the ``n``-th wait, received but unanswered, until
``release()`` — a provider that is slow to answer, so that a kill lands while sends are in flight.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MARKER_RE = re.compile(r"\[m:(\d+)\]")
RESPONSE_PREFIX = "wamid.HBgLNTUxMTk4NzY1NDMyMRUCABEYEj"


@dataclass(frozen=True)
class GraphRequest:
    path: str
    body: bytes
    received_at: float  # time.monotonic() when the body had arrived


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Graph API: a client's Session reuses its connection
    wbufsize = -1  # headers and body leave in one segment (else Nagle + delayed ACK add 40 ms per answer)
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        held = self.server.graph.record(GraphRequest(path=self.path, body=body, received_at=time.monotonic()))
        if held:
            self.server.graph.release_event.wait()
            self.close_connection = True
            return  # the client is gone by now (killed): nothing to answer
        answer = json.dumps(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "", "wa_id": ""}],
                "messages": [{"id": f"{RESPONSE_PREFIX}{next(self.server.ids)}"}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):  # noqa: N802
        """``GET /_stats?since=<n>``: how many messages arrived, and when the ``n+1``-th and the last did
        (``time.monotonic()``, the same clock in every process of the machine), for a process that does not
        share this one's memory (the bench)."""
        since = int(parse_qs(urlsplit(self.path).query).get("since", ["0"])[0])
        answer = json.dumps(self.server.graph.stats(since=since)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    graph: GraphServer
    ids: itertools.count

    def handle_error(self, request, client_address):
        """A client killed mid-connection (what these tests do) is not an error of the server."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class GraphServer:
    """``with GraphServer() as graph:`` — ``graph.base_url`` is the ``WHATSAPP_GRAPH_BASE_URL`` to use.

    ``record_bodies=False`` keeps only the count and arrival times (the bench: least work per request).
    """

    def __init__(self, *, record_bodies: bool = True, port: int = 0):
        self.record_bodies = record_bodies
        self.lock = threading.Lock()
        self.requests: list[GraphRequest] = []
        self.count = 0
        self.arrived: list[float] = []
        self._hold_after: int | None = None
        self._hold_limit: int | None = None
        self.held = 0
        self.release_event = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.graph = self
        self._server.ids = itertools.count(1)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="graph-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v21.0"

    def record(self, request: GraphRequest) -> bool:
        """Count one arrived message; ``True`` if it is to be held unanswered."""
        with self.lock:
            self.count += 1
            self.arrived.append(request.received_at)
            if self.record_bodies:
                self.requests.append(request)
            hold = (
                self._hold_after is not None
                and self.count > self._hold_after
                and (self._hold_limit is None or self.held < self._hold_limit)
                and not self.release_event.is_set()
            )
            self.held += hold
            return hold

    def hold_after(self, count: int, *, limit: int | None = None) -> None:
        """Hold the messages after the ``count``-th (received, unanswered; at most ``limit`` of them) until
        ``release()``."""
        with self.lock:
            self.release_event.clear()
            self.held = 0
            self._hold_after, self._hold_limit = count, limit

    def release(self) -> None:
        with self.lock:
            self._hold_after = None
        self.release_event.set()

    def stats(self, *, since: int = 0) -> dict:
        with self.lock:
            later = self.arrived[since:]
            return {
                "count": self.count,
                "first_at": later[0] if later else None,
                "last_at": later[-1] if later else None,
            }

    def markers(self) -> Counter:
        """How many times each ``[m:<n>]`` marker arrived (a message carries one)."""
        with self.lock:
            found = Counter()
            for request in self.requests:
                match = MARKER_RE.search(request.body.decode("utf-8", "replace"))
                if match:
                    found[int(match.group(1))] += 1
            return found

    def arrivals(self, marker: int) -> list[float]:
        """When each copy of ``marker`` arrived (``time.monotonic()``)."""
        with self.lock:
            return [
                r.received_at
                for r in self.requests
                if (m := MARKER_RE.search(r.body.decode("utf-8", "replace"))) and int(m.group(1)) == marker
            ]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release_event.set()
        self._server.shutdown()
        self._server.server_close()
