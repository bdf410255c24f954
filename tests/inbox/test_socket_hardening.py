"""Both websockets against hostile frames and origins, through the whole ASGI stack.

Deeply nested JSON gets an error frame on both sockets (the connection stays); NUL characters
and lone surrogates in a ``send`` are refused before anything is stored; the Origin must match
the socket's own scheme, host and port; and a frame over the server's limit is closed with 1009
by a real Daphne (``pytake.serve``), not dropped.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from conversations.models import Message
from tests.inbox.conftest import inbound
from tests.inbox.live import daphne  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

NESTED = "[" * 5_000 + "]" * 5_000  # 10,000 characters: under the inbox's frame limit
NESTED_IN_OBJECT = '{"type": "ping", "x": ' + "[" * 3_000 + "]" * 3_000 + "}"


def application():
    from pytake.asgi import application as app

    return app


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies["sessionid"].value


def communicator(user, path="/ws/inbox/", host=b"testserver", origin=b"http://testserver", scheme=None):
    headers = [(b"host", host), (b"cookie", f"sessionid={session_cookie(user)}".encode())]
    if origin is not None:
        headers.append((b"origin", origin))
    ws = WebsocketCommunicator(application(), path, headers=headers)
    if scheme:
        ws.scope["scheme"] = scheme
    return ws


async def until(ws, kind: str, timeout: float = 5) -> dict:
    while True:
        frame = await ws.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return frame


def run(scenario):
    async_to_sync(scenario)()


def test_nested_json_gets_an_error_frame_on_the_inbox_socket(desk):
    async def scenario():
        ws = await sync_to_async(communicator)(desk.tenant.agent)
        assert (await ws.connect(timeout=5))[0]
        await until(ws, "hello")
        for frame in (NESTED, NESTED_IN_OBJECT):
            await ws.send_to(text_data=frame)
            error = await until(ws, "error")
            assert error["code"] == "malformed" and error["message"] == "The frame is nested too deeply.", error
        await ws.send_json_to({"type": "ping", "ref": "alive"})
        assert (await until(ws, "pong"))["ref"] == "alive"
        await ws.disconnect()

    run(scenario)


def test_nested_json_gets_an_error_frame_on_the_notifications_socket(desk):
    async def scenario():
        ws = await sync_to_async(communicator)(desk.tenant.agent, path="/ws/notifications/")
        assert (await ws.connect(timeout=5))[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "unread"
        await ws.send_to(text_data=NESTED)
        assert await ws.receive_json_from(timeout=5) == {"type": "error", "error": "the frame is nested too deeply"}
        await ws.send_json_to({"type": "sync"})
        assert (await ws.receive_json_from(timeout=5))["type"] == "unread"  # still open, not closed with 1011
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("bad", ["\u0000", "\ud800", "\udfff"], ids=["nul", "high-surrogate", "low-surrogate"])
def test_nul_and_lone_surrogates_in_a_send_are_refused_and_nothing_is_stored(desk, bad):
    conversation = inbound(desk, "hi").conversation
    conversation.assignee = desk.agent
    conversation.save(update_fields=["assignee"])
    before = Message.objects.filter(conversation=conversation).count()

    async def scenario():
        ws = await sync_to_async(communicator)(desk.tenant.agent)
        assert (await ws.connect(timeout=5))[0]
        await until(ws, "hello")
        frame = {"type": "send", "conversation_id": conversation.pk, "body": f"olá {bad} mundo", "ref": "r1"}
        await ws.send_to(text_data=json.dumps(frame))  # ASCII JSON: the character travels as an escape
        error = await until(ws, "error")
        assert error["code"] == "invalid" and error["ref"] == "r1" and "surrogate" in error["message"]
        await ws.disconnect()

    run(scenario)
    assert Message.objects.filter(conversation=conversation).count() == before


@pytest.mark.parametrize(
    ("host", "origin", "scheme", "allowed"),
    [
        (b"testserver:8000", b"http://testserver:8000", None, True),
        (b"testserver:8000", b"http://testserver:9000", None, False),
        (b"testserver:8000", b"http://testserver", None, False),
        (b"testserver:8000", b"https://testserver:8000", None, False),
        (b"testserver", b"http://testserver:80", None, True),
        (b"testserver", b"https://testserver", "wss", True),
        (b"testserver", b"http://testserver", "wss", False),
        (b"testserver", b"http://testserver.evil.example", None, False),
        (b"evil.example", b"http://evil.example", None, False),  # not in ALLOWED_HOSTS
        (b"testserver", b"http://testserver:notaport", None, False),
        (b"testserver", b"null", None, False),
    ],
)
def test_the_origin_must_match_scheme_host_and_port(desk, host, origin, scheme, allowed):
    async def scenario():
        for path in ("/ws/inbox/", "/ws/notifications/"):
            ws = await sync_to_async(communicator)(
                desk.tenant.agent, path=path, host=host, origin=origin, scheme=scheme
            )
            connected, _code = await ws.connect(timeout=5)
            assert connected is allowed, (path, host, origin, scheme)
            if connected:
                await ws.disconnect()

    run(scenario)


def test_a_frame_over_the_server_limit_is_closed_with_1009(desk, daphne):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    cookie = f"sessionid={session_cookie(desk.tenant.agent)}"
    uri = daphne.url.replace("http://", "ws://") + "/ws/inbox/"

    async def scenario():
        async with connect(uri, origin=daphne.url, additional_headers={"Cookie": cookie}, max_size=None) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
            await ws.send("x" * (1024 * 1024 + 1))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None, "the server dropped the connection without a close frame"
        assert closed.value.rcvd.code == 1009

    asyncio.run(scenario())


def test_without_a_host_header_the_servers_own_address_is_the_origin(desk):
    async def scenario():
        for server, origin, allowed in (
            (("testserver", 8000), b"http://testserver:8000", True),
            (("testserver", 8000), b"http://testserver:8001", False),
            (None, b"http://testserver", False),
        ):
            cookie = await sync_to_async(session_cookie)(desk.tenant.agent)
            ws = WebsocketCommunicator(
                application(), "/ws/inbox/", headers=[(b"origin", origin), (b"cookie", f"sessionid={cookie}".encode())]
            )
            ws.scope["server"] = server
            connected, _code = await ws.connect(timeout=5)
            assert connected is allowed, (server, origin)
            if connected:
                await ws.disconnect()

    run(scenario)


def test_behind_a_tls_proxy_the_forwarded_scheme_and_the_trusted_origins_count(desk, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = ["https://support.example.com:8443"]

    async def scenario():
        cookie = await sync_to_async(session_cookie)(desk.tenant.agent)
        for extra, origin, allowed in (
            ([(b"x-forwarded-proto", b"https")], b"https://testserver", True),
            ([(b"x-forwarded-proto", b"https")], b"http://testserver", False),
            ([], b"https://testserver", False),
            ([], b"https://support.example.com:8443", True),
            ([], b"https://support.example.com", False),
        ):
            headers = [(b"host", b"testserver"), (b"origin", origin), (b"cookie", f"sessionid={cookie}".encode())]
            ws = WebsocketCommunicator(application(), "/ws/inbox/", headers=headers + extra)
            connected, _code = await ws.connect(timeout=5)
            assert connected is allowed, (extra, origin)
            if connected:
                await ws.disconnect()

    run(scenario)
