from __future__ import annotations

import pytest

from pytake import events

_recording: list[list] = []

NAMES = (
    "conversation.created", "conversation.assigned", "conversation.transferred", "conversation.closed", "conversation.reopened",
    "message.received", "message.sent", "contact.created", "sla.warning", "sla.breached",
)


@events.listener(*NAMES)
def _record(event):
    for sink in _recording:
        sink.append(event)


@pytest.fixture
def recorded_events():
    """Events delivered to listeners while the test runs (after their transaction commits)."""
    sink: list = []
    _recording.append(sink)
    yield sink
    _recording.remove(sink)


def names(recorded) -> list[str]:
    return [event.name for event in recorded]
