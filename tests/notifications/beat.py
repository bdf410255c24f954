"""The outbox relay run every ``period`` seconds in a thread of the test process, as Celery Beat runs it.

Beat calls ``relay_notifications`` on a fixed schedule with the settings' thresholds; so does this:
``services.notification_relay()`` with no overrides, at ``start + k × period``, on its own
database connection. Each run's result is kept with the moment it finished.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class RelayRun:
    finished_at: float  # time.monotonic()
    result: object  # notifications.services.RelayResult


class Relay:
    def __init__(self, *, period: float):
        self.period = period
        self.runs: list[RelayRun] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-as-beat", daemon=True)

    def _run(self) -> None:
        from notifications import services

        start = time.monotonic()
        tick = 0
        try:
            while not self._stop.is_set():
                tick += 1
                if self._stop.wait(max(0.0, start + tick * self.period - time.monotonic())):
                    break
                try:
                    result = services.notification_relay()
                except Exception as error:  # a failing run is reported by the test, the next one goes on
                    self.errors.append(error)
                    continue
                self.runs.append(RelayRun(finished_at=time.monotonic(), result=result))
        finally:
            connection.close()

    def total(self, field: str) -> int:
        return sum(getattr(run.result, field) for run in list(self.runs))

    def runs_after(self, moment: float) -> int:
        return sum(1 for run in list(self.runs) if run.finished_at > moment)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
