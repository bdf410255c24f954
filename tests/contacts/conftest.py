from __future__ import annotations

from tests.recording import event_recorder

recorded_events = event_recorder(
    "contact.updated", "contacts.imported", doc="Contact events delivered to listeners while the test runs."
)

from tests.inbox.conftest import clean_presence, desk, fresh_channel_layer  # noqa: E402,F401
