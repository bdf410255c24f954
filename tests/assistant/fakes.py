"""Two local HTTP servers speaking the providers' wire formats, for the SDKs to be pointed at.

``FakeOpenAI`` answers ``POST /v1/chat/completions`` (a JSON completion, or server-sent events
ending in ``data: [DONE]`` when ``stream`` is set, with the usage chunk ``stream_options`` asks
for); ``FakeAnthropic`` answers ``POST /v1/messages`` (a JSON message, or the named SSE events
``message_start`` … ``message_stop``). Errors use each provider's error body. A test queues
behaviours (``ok``, ``error``, ``slow``); when the queue is empty the server answers ``ok``.
Every request is kept (path, headers, JSON body, arrival time) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Ok:
    text: str = "Hello! How can I help?"
    tokens_in: int = 42
    tokens_out: int = 7


@dataclass
class Error:
    status: int
    kind: str = ""  # the provider's error type/code
    message: str = "error"
    headers: dict = field(default_factory=dict)


@dataclass
class Slow:
    seconds: float


@dataclass
class Seen:
    path: str
    headers: dict
    body: dict
    at: float


class _Server:
    kind = ""
    path = ""

    def __init__(self, *, valid_key: str | None = None, known_models: set[str] | None = None):
        self.valid_key = valid_key
        self.known_models = known_models
        self.script: deque = deque()
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw or b"{}")
                with fake._lock:
                    fake.requests.append(
                        Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                    )
                    behaviour = fake.script.popleft() if fake.script else Ok()
                try:
                    fake._answer(self, body, behaviour)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def queue(self, *behaviours) -> None:
        self.script.extend(behaviours)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- wire formats ---
    def _key_of(self, headers) -> str:
        raise NotImplementedError

    def _answer(self, handler, body, behaviour) -> None:
        if isinstance(behaviour, Slow):
            time.sleep(behaviour.seconds)
            behaviour = Ok()
        if self.valid_key is not None and self._key_of(handler.headers) != self.valid_key:
            behaviour = self.bad_key()
        elif self.known_models is not None and body.get("model") not in self.known_models:
            behaviour = self.unknown_model(body.get("model"))
        if isinstance(behaviour, Error):
            self._json(handler, behaviour.status, self.error_body(behaviour), behaviour.headers)
        elif body.get("stream"):
            self._sse(handler, list(self.events(body, behaviour)))
        else:
            self._json(handler, 200, self.message(body, behaviour))

    def _json(self, handler, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _sse(self, handler, events: list[str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for event in events:
            data = event.encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    @staticmethod
    def pieces(text: str) -> list[str]:
        words = text.split(" ")
        return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


class FakeOpenAI(_Server):
    kind = "openai"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _key_of(self, headers) -> str:
        return (headers.get("Authorization") or "").removeprefix("Bearer ")

    def bad_key(self) -> Error:
        return Error(
            401, "invalid_api_key", "Incorrect API key provided: sk-wro*****ong. You can find your API key at …"
        )

    def unknown_model(self, model) -> Error:
        return Error(404, "model_not_found", f"The model `{model}` does not exist or you do not have access to it.")

    @staticmethod
    def quota() -> Error:
        return Error(
            429, "insufficient_quota", "You exceeded your current quota, please check your plan and billing details."
        )

    def error_body(self, error: Error) -> dict:
        return {
            "error": {
                "message": error.message,
                "type": error.kind or "server_error",
                "param": None,
                "code": error.kind or None,
            }
        }

    def message(self, body, ok: Ok) -> dict:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ok.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": ok.tokens_in,
                "completion_tokens": ok.tokens_out,
                "total_tokens": ok.tokens_in + ok.tokens_out,
            },
        }

    def events(self, body, ok: Ok):
        base = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }
        first = True
        for piece in self.pieces(ok.text):
            delta = {"role": "assistant", "content": piece} if first else {"content": piece}
            first = False
            yield (
                "data: "
                + json.dumps(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                + "\n\n"
            )
        yield "data: " + json.dumps(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + "\n\n"
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": ok.tokens_in,
                "completion_tokens": ok.tokens_out,
                "total_tokens": ok.tokens_in + ok.tokens_out,
            }
            yield "data: " + json.dumps(base | {"choices": [], "usage": usage}) + "\n\n"
        yield "data: [DONE]\n\n"


class FakeAnthropic(_Server):
    kind = "anthropic"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _key_of(self, headers) -> str:
        # Anthropic's API takes the key as ``x-api-key``; its SDK sends it as a bearer token.
        return headers.get("x-api-key") or (headers.get("Authorization") or "").removeprefix("Bearer ")

    def bad_key(self) -> Error:
        return Error(401, "authentication_error", "invalid x-api-key")

    def unknown_model(self, model) -> Error:
        return Error(404, "not_found_error", f"model: {model}")

    def error_body(self, error: Error) -> dict:
        return {"type": "error", "error": {"type": error.kind or "api_error", "message": error.message}}

    def message(self, body, ok: Ok) -> dict:
        return {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": ok.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": ok.tokens_in, "output_tokens": ok.tokens_out},
        }

    def events(self, body, ok: Ok):
        def event(name, data):
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"

        start = self.message(body, ok) | {
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": ok.tokens_in, "output_tokens": 1},
        }
        yield event("message_start", {"type": "message_start", "message": start})
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        yield event("ping", {"type": "ping"})
        for piece in self.pieces(ok.text):
            yield event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
        yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": ok.tokens_out},
            },
        )
        yield event("message_stop", {"type": "message_stop"})
