"""The websocket sessions gauge of ``/metrics`` follows inbox and notification sockets opening and closing."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from tests.inbox.test_consumer import connected, run, session_cookie
from tests.test_metrics import scrape, value

pytestmark = pytest.mark.django_db(transaction=True)

GAUGE = "pytake_websocket_sessions"


def test_open_sockets_are_counted_per_socket_and_closing_uncounts_them(desk):
    before = scrape()
    seen = {}

    async def scenario():
        inbox = await connected(desk.tenant.agent)
        cookie = await sync_to_async(session_cookie)(desk.tenant.admin)
        from pytake.asgi import application

        notifications = WebsocketCommunicator(
            application,
            "/ws/notifications/",
            headers=[
                (b"host", b"testserver"),
                (b"origin", b"http://testserver"),
                (b"cookie", f"sessionid={cookie}".encode()),
            ],
        )
        ok, _code = await notifications.connect(timeout=5)
        assert ok
        await notifications.receive_json_from(timeout=5)  # the unread count
        seen["open"] = await sync_to_async(scrape)()
        await inbox.disconnect()
        await notifications.disconnect()

    run(scenario)
    after = scrape()
    assert value(seen["open"], GAUGE, socket="inbox") == value(before, GAUGE, socket="inbox") + 1
    assert value(seen["open"], GAUGE, socket="notifications") == value(before, GAUGE, socket="notifications") + 1
    assert value(after, GAUGE, socket="inbox") == value(before, GAUGE, socket="inbox")
    assert value(after, GAUGE, socket="notifications") == value(before, GAUGE, socket="notifications")
