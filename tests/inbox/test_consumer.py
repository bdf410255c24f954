"""The inbox websocket through the whole ASGI stack (session auth, origin check) on the real Redis layer."""

from __future__ import annotations

import json
import weakref

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import AgentStatus, Membership
from conversations.inbox.consumers import MAX_FRAME_CHARS
from conversations.models import Message
from tests.inbox.conftest import inbound

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://testserver"


def application():
    from pytake.asgi import application as app

    return app


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies["sessionid"].value


def communicator(user=None, origin: bytes | None = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", f"sessionid={session_cookie(user)}".encode()))
    return WebsocketCommunicator(application(), "/ws/inbox/", headers=headers)


_pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def until(ws: WebsocketCommunicator, kind: str, timeout: float = 5) -> dict:
    """The first frame of type ``kind`` not yet taken, in arrival order; other frames stay for later calls.

    An ``events`` frame (stream entries sent at once) is taken apart into its ``event`` frames.
    """
    pending = _pending.setdefault(ws, [])
    while True:
        for index, frame in enumerate(pending):
            if frame["type"] == kind:
                return pending.pop(index)
        frame = await ws.receive_json_from(timeout=timeout)
        pending.extend(frame["events"] if frame["type"] == "events" else [frame])


def content(event: dict) -> tuple[dict, str, str]:
    """An event frame without its sequence and renderings, and the message / list item HTML."""
    event = dict(event)
    assert isinstance(event.pop("seq"), int)
    return event, event.pop("html", ""), event.pop("item", "")


async def connected(user) -> WebsocketCommunicator:
    ws = await sync_to_async(communicator)(user)
    ok, _code = await ws.connect(timeout=5)
    assert ok
    await until(ws, "hello")
    return ws


def run(scenario):
    async_to_sync(scenario)()


def test_anonymous_is_refused():
    async def scenario():
        ok, _code = await communicator(None).connect()
        assert not ok

    run(scenario)


def test_foreign_or_missing_origin_is_refused(tenant_a):
    async def scenario():
        for origin in (b"http://evil.example", None):
            ok, _code = await (await sync_to_async(communicator)(tenant_a.agent, origin=origin)).connect()
            assert not ok
        ws = await sync_to_async(communicator)(tenant_a.agent)
        ok, _code = await ws.connect()
        assert ok
        await ws.disconnect()

    run(scenario)


def test_hello_says_who_may_act_and_presence_goes_online(desk):
    async def scenario():
        agent = await connected(desk.tenant.agent)
        presence = await until(agent, "presence")
        assert presence == {"type": "presence", "user_id": desk.tenant.agent.pk, "status": "online"}
        viewer = await sync_to_async(communicator)(desk.tenant.viewer)
        await viewer.connect()
        hello = await until(viewer, "hello")
        assert hello["can_act"] is False and hello["organization_id"] == desk.tenant.org.pk
        assert isinstance(hello["seq"], int)
        await agent.disconnect()
        assert await until(viewer, "presence") == {
            "type": "presence",
            "user_id": desk.tenant.agent.pk,
            "status": "offline",
        }
        await viewer.disconnect()

    run(scenario)
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.OFFLINE


@pytest.mark.parametrize(
    "frame, code",
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"no": "type"}', "malformed"),
        ('{"type": 5}', "malformed"),
        ('{"type": "explode"}', "unknown_type"),
        ("x" * (MAX_FRAME_CHARS + 1), "too_large"),
        ('{"type": "subscribe", "conversation_id": "12"}', "invalid"),
        ('{"type": "subscribe", "conversation_id": true}', "invalid"),
        ('{"type": "heartbeat", "status": "asleep"}', "invalid"),
        ('{"type": "send", "conversation_id": 1, "body": ["x"]}', "invalid"),
    ],
    ids=lambda value: value if len(value) <= 60 else f"{value[:12]}…({len(value)} chars)",
)
def test_malformed_frames_get_an_error_and_the_connection_stays(desk, frame, code):
    async def scenario():
        ws = await connected(desk.tenant.agent)
        await ws.send_to(text_data=frame)
        error = await until(ws, "error")
        assert error["code"] == code and error["message"]
        await ws.send_to(bytes_data=b"\x00\x01")
        assert (await until(ws, "error"))["code"] == "malformed"
        await ws.send_json_to({"type": "ping", "ref": "still-there"})
        assert (await until(ws, "pong"))["ref"] == "still-there"
        await ws.disconnect()

    run(scenario)


def test_a_flood_of_frames_is_rate_limited(desk):
    async def scenario():
        ws = await connected(desk.tenant.agent)
        for n in range(100):
            await ws.send_json_to({"type": "ping", "ref": n})
        codes = []
        for _ in range(100):
            frame = await ws.receive_json_from(timeout=5)
            while frame["type"] == "presence":
                frame = await ws.receive_json_from(timeout=5)
            codes.append(frame.get("code") or frame["type"])
        assert "rate_limited" in codes and codes.count("pong") >= 30
        await ws.disconnect()

    run(scenario)


def test_foreign_missing_and_viewer_subscriptions_get_the_same_refusal(desk, tenant_b):
    conversation = inbound(desk, "alpha secret").conversation

    async def scenario():
        answers = []
        for user, conversation_id in (
            (tenant_b.agent, conversation.pk),
            (desk.tenant.agent, 987654321),
            (desk.tenant.viewer, conversation.pk),
        ):
            ws = await connected(user)
            for kind in ("subscribe", "typing", "read", "send"):
                await ws.send_json_to(
                    {"type": kind, "conversation_id": conversation_id, "message_id": 1, "body": "hijack"}
                )
                error = await until(ws, "error")
                answers.append((error["code"], error["message"]))
            await ws.disconnect()
        assert len(set(answers)) == 1 and answers[0][0] == "not_found"

    run(scenario)
    assert list(Message.objects.filter(conversation=conversation).values_list("body", flat=True)) == ["alpha secret"]


def test_viewer_has_no_agent_status(desk):
    async def scenario():
        ws = await connected(desk.tenant.viewer)
        await ws.send_json_to({"type": "heartbeat", "status": "online"})
        assert (await until(ws, "error"))["code"] == "forbidden"
        await ws.disconnect()

    run(scenario)


def test_reply_over_the_websocket_reaches_the_other_agents(desk):
    conversation = inbound(desk, "hello").conversation

    async def scenario():
        agent = await connected(desk.tenant.agent)
        admin = await connected(desk.tenant.admin)
        viewer = await connected(desk.tenant.viewer)
        await agent.send_json_to({"type": "send", "conversation_id": conversation.pk, "body": "On it!", "ref": "r1"})
        ack = await until(agent, "sent")
        assert ack["ref"] == "r1" and ack["conversation_id"] == conversation.pk
        seqs = set()
        for ws in (admin, viewer, agent):
            frame = await until(ws, "event")
            seqs.add(frame["seq"])
            event, html, item = content(frame)
            # ``agent_id``: whose conversation it is now (the tab's new-work signals).
            assert "agent_id" in event
            assert {key: value for key, value in event.items() if key != "agent_id"} == {
                "type": "event",
                "event": "message.sent",
                "conversation_id": conversation.pk,
                "message_id": ack["message_id"],
                "author_id": desk.tenant.agent.pk,
                "note": False,
            }
            assert f'id="message-{ack["message_id"]}"' in html and "On it!" in html
            assert f'data-conversation-id="{conversation.pk}"' in item and "On it!" in item
        assert len(seqs) == 1  # one sequence per event, the same for every tab
        await agent.send_json_to(
            {"type": "send", "conversation_id": conversation.pk, "body": "note to self", "note": True}
        )
        assert (await until(agent, "sent"))["message_id"]
        await agent.send_json_to({"type": "send", "conversation_id": conversation.pk, "body": "   ", "ref": "empty"})
        error = await until(agent, "error")
        assert error["code"] == "invalid" and error["ref"] == "empty" and "Write a message" in error["message"]
        for ws in (agent, admin, viewer):
            await ws.disconnect()

    run(scenario)
    bodies = dict(Message.objects.filter(conversation=conversation).values_list("body", "is_internal_note"))
    assert bodies == {"hello": False, "On it!": False, "note to self": True}


def test_an_over_long_send_gets_an_error_frame_with_the_limit(desk):
    from conversations import services as conversation_services

    conversation = conversation_services.inbound_message_receive(
        channel=desk.whatsapp, phone="+5511987650123", body="hello"
    ).message.conversation

    async def scenario():
        agent = await connected(desk.tenant.agent)
        for note in (False, True):
            await agent.send_json_to(
                {"type": "send", "conversation_id": conversation.pk, "body": "x" * 4097, "note": note, "ref": "long"}
            )
            error = await until(agent, "error")
            assert error["code"] == "invalid" and error["ref"] == "long"
            assert "at most 4096 characters; this one has 4097" in error["message"]
        await agent.disconnect()

    run(scenario)
    assert list(Message.objects.filter(conversation=conversation).values_list("body", flat=True)) == ["hello"]


def test_inbound_messages_reach_the_organization_and_no_one_else(desk, tenant_b):
    async def scenario():
        agent = await connected(desk.tenant.agent)
        stranger = await connected(tenant_b.agent)
        message = await sync_to_async(inbound)(desk, "new customer")
        events = [await until(agent, "event")]
        while events[-1]["event"] != "message.received":
            events.append(await until(agent, "event"))
        # Opened, routed to the online agent, then the message (in the order of the commit).
        assert [event["event"] for event in events] == [
            "conversation.created",
            "conversation.assigned",
            "message.received",
        ]
        assert {event["conversation_id"] for event in events} == {message.conversation_id}
        assert [event["seq"] for event in events] == list(range(events[0]["seq"], events[0]["seq"] + 3))
        received, html, _item = content(events[-1])
        assert "new customer" in html
        assert "agent_id" in received  # whose conversation it is (the tab's new-work signals)
        assert {key: value for key, value in received.items() if key != "agent_id"} == {
            "type": "event",
            "event": "message.received",
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "author_id": None,
            "note": False,
        }
        frames = []
        while not await stranger.receive_nothing(timeout=0.3):
            frames.append(json.loads((await stranger.receive_output())["text"]))
        assert all(frame["type"] in ("presence", "badge") for frame in frames), frames
        assert all(frame.get("user_id") in (None, tenant_b.agent.pk) for frame in frames), frames
        await agent.disconnect()
        await stranger.disconnect()

    run(scenario)


def test_typing_and_read_receipts_reach_the_other_subscribers(desk):
    conversation = inbound(desk, "hello").conversation
    message_id = conversation.messages.get().pk

    async def scenario():
        agent = await connected(desk.tenant.agent)
        admin = await connected(desk.tenant.admin)
        for ws in (agent, admin):
            await ws.send_json_to({"type": "subscribe", "conversation_id": conversation.pk})
            assert (await until(ws, "subscribed"))["conversation_id"] == conversation.pk
        await agent.send_json_to({"type": "typing", "conversation_id": conversation.pk, "typing": True})
        typing = await until(admin, "typing")
        assert typing == {
            "type": "typing",
            "conversation_id": conversation.pk,
            "user_id": desk.tenant.agent.pk,
            "name": desk.tenant.agent.get_short_name(),
            "typing": True,
        }
        await agent.send_json_to({"type": "read", "conversation_id": conversation.pk, "message_id": message_id})
        read = await until(admin, "read")
        assert read["user_id"] == desk.tenant.agent.pk and read["message_id"] == message_id
        await agent.send_json_to({"type": "read", "conversation_id": conversation.pk, "message_id": message_id + 1000})
        assert (await until(agent, "error"))["code"] == "invalid"
        # Typing elsewhere than the subscribed conversation is refused like a foreign one.
        await agent.send_json_to({"type": "typing", "conversation_id": conversation.pk + 1, "typing": True})
        assert (await until(agent, "error"))["code"] == "not_found"
        for ws in (agent, admin):
            await ws.disconnect()

    run(scenario)


def test_notification_badge_is_forwarded_from_the_personal_group(desk):
    async def scenario():
        ws = await connected(desk.tenant.agent)
        assert (await until(ws, "badge"))["unread"] == 0  # the count when connecting
        await get_channel_layer().group_send(
            f"org-{desk.tenant.org.pk}.user-{desk.tenant.agent.pk}", {"type": "notification.unread", "unread": 3}
        )
        assert (await until(ws, "badge"))["unread"] == 3
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("kind", ["notification.message", "notification.unread"])
def test_a_removed_member_gets_no_more_notifications_and_the_socket_closes(desk, kind):
    async def scenario():
        ws = await connected(desk.tenant.agent)
        await until(ws, "badge")
        await sync_to_async(Membership.objects.filter(pk=desk.agent.pk).delete)()
        await get_channel_layer().group_send(
            f"org-{desk.tenant.org.pk}.user-{desk.tenant.agent.pk}",
            {"type": kind, "subject": "Assigned", "message": "private", "unread": 4},
        )
        while (output := await ws.receive_output(timeout=5))["type"] != "websocket.close":
            assert json.loads(output["text"])["type"] not in ("notification", "badge")
        assert output["code"] == 4403

    run(scenario)


def test_a_demoted_agent_can_no_longer_act(desk):
    conversation = inbound(desk, "hello").conversation

    async def scenario():
        ws = await connected(desk.tenant.agent)
        await ws.send_json_to({"type": "subscribe", "conversation_id": conversation.pk})
        await until(ws, "subscribed")
        await sync_to_async(Membership.objects.filter(pk=desk.agent.pk).update)(role="viewer")
        await ws.send_json_to({"type": "send", "conversation_id": conversation.pk, "body": "still here?"})
        assert (await until(ws, "error"))["code"] == "not_found"
        await ws.disconnect()

    run(scenario)
    assert not Message.objects.filter(body="still here?").exists()


def communicator_at(user, query: str) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver"), (b"origin", ORIGIN), (b"cookie", f"sessionid={session_cookie(user)}".encode())]
    return WebsocketCommunicator(application(), f"/ws/inbox/?{query}", headers=headers)


def test_a_reconnecting_tab_gets_what_it_missed_in_order_then_live(desk):
    from conversations.inbox import realtime

    first = inbound(desk, "one")
    since = realtime.current_sequence(desk.tenant.org.pk)
    missed = [inbound(desk, "two", phone=first.conversation.contact.phone)]
    missed.append(inbound(desk, "three", phone=first.conversation.contact.phone))

    async def scenario():
        ws = await sync_to_async(communicator_at)(desk.tenant.agent, f"since={since}&lang=pt-br")
        assert (await ws.connect(timeout=5))[0]
        replayed = [await until(ws, "event"), await until(ws, "event")]
        assert [frame["message_id"] for frame in replayed] == [message.pk for message in missed]
        assert [frame["seq"] for frame in replayed] == [since + 1, since + 2]
        assert "two" in replayed[0]["html"]
        assert "item" not in replayed[0]  # the list item of one conversation is sent once per burst, the latest
        assert "three" in replayed[1]["item"] and "Sem responsável" in replayed[1]["item"]  # the tab's language
        live = await sync_to_async(inbound)(desk, "four", phone=first.conversation.contact.phone)
        frame = await until(ws, "event")
        assert frame["message_id"] == live.pk and frame["seq"] == since + 3
        await ws.disconnect()

    run(scenario)


def test_a_gap_older_than_the_stream_asks_the_tab_to_resync(desk):
    from conversations.inbox import realtime

    inbound(desk, "one")
    current = realtime.current_sequence(desk.tenant.org.pk)
    realtime.client().xtrim(realtime.stream_key(desk.tenant.org.pk), maxlen=0)

    async def scenario():
        ws = await sync_to_async(communicator_at)(desk.tenant.agent, "since=0")
        assert (await ws.connect(timeout=5))[0]
        assert await until(ws, "resync") == {"type": "resync", "seq": current}
        await ws.disconnect()

    before = int(realtime.client().get(realtime.resyncs_key()) or 0)

    run(scenario)
    assert int(realtime.client().get(realtime.resyncs_key()) or 0) == before + 1  # counted, not silent


def test_agents_outside_the_queue_get_no_events_of_it(desk):
    from tests import factories

    other_queue = factories.queue(desk.tenant.org, name="Sales")
    other = factories.member(desk.tenant.org, role="agent")
    other.queues.add(other_queue)
    other_agent = other.user

    async def scenario():
        outsider = await connected(other_agent)
        admin = await connected(desk.tenant.admin)
        message = await sync_to_async(inbound)(desk, "for support only")
        while (await until(admin, "event"))["event"] != "message.received":
            pass
        frames = []
        while not await outsider.receive_nothing(timeout=0.3):
            frames.append(json.loads((await outsider.receive_output())["text"]))
        assert all(frame["type"] not in ("event", "events") for frame in frames), frames
        assert message.conversation.queue_id == desk.queue.pk
        for ws in (outsider, admin):
            await ws.disconnect()

    run(scenario)


def test_the_polling_fallback_answers_the_same_events(desk, client):
    from conversations.inbox import realtime

    since = realtime.current_sequence(desk.tenant.org.pk)
    message = inbound(desk, "polled")
    client.force_login(desk.tenant.viewer, backend="django.contrib.auth.backends.ModelBackend")
    answer = client.get("/inbox/events/", {"since": since}).json()
    received = [frame for frame in answer["events"] if frame["event"] == "message.received"]
    assert [frame["message_id"] for frame in received] == [message.pk] and "polled" in received[0]["html"]
    assert answer["seq"] == realtime.current_sequence(desk.tenant.org.pk) == answer["events"][-1]["seq"]
    assert client.get("/inbox/events/", {"since": answer["seq"]}).json() == {"seq": answer["seq"], "events": []}
    realtime.client().xtrim(realtime.stream_key(desk.tenant.org.pk), maxlen=0)
    assert client.get("/inbox/events/", {"since": since}).json() == {"seq": answer["seq"], "resync": True}
