"""Recording domain events in tests: ``recorded_events = event_recorder(*names)`` in a conftest."""

from __future__ import annotations

import pytest

from pytake import events


def event_recorder(*names: str, doc: str):
    """A ``recorded_events`` fixture: the events of ``names`` delivered while the test runs."""
    recording: list[list] = []

    @events.listener(*names)
    def _record(event):
        for sink in recording:
            sink.append(event)

    @pytest.fixture
    def recorded_events():
        sink: list = []
        recording.append(sink)
        yield sink
        recording.remove(sink)

    recorded_events.__doc__ = doc
    return recorded_events
