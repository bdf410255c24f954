"""A real SMTP server (aiosmtpd) for tests and the benchmark: records messages, can refuse on demand."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
from collections import Counter

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RecordingHandler:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.refuse_next = 0
        self.refuse_always = False
        self.refused = 0
        # When set, the server waits (holding the message unaccepted) until ``release`` is set.
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse_always or self.refuse_next > 0:
                self.refuse_next = max(0, self.refuse_next - 1)
                self.refused += 1
                return "451 4.3.0 Try again later"
            hold = self.hold_at is not None and len(self.messages) >= self.hold_at and not self.release.is_set()
        if hold:
            import asyncio

            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "421 4.3.0 Server restarting; message not accepted"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def message_ids(self) -> Counter:
        with self.lock:
            return Counter(m["Message-ID"] for m in self.messages)


class SmtpServer:
    def __init__(self):
        # aiosmtpd logs every SMTP command at INFO: at hundreds of emails per second that is the bottleneck.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.handler.release.set()
        self.controller.stop()
