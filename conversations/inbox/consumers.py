"""The inbox websocket (``/ws/inbox/``): one per browser tab.

Session auth (Channels' ``AuthMiddlewareStack``) and the origin check
(``pytake.websocket_origin``: scheme, host and port) wrap it in ``pytake.asgi``. The organization is resolved from
the session as for a page. Every acting frame re-reads the membership and re-checks the
conversation through ``conversation_get_for_member`` — the selector the views use — and a
refusal says the same thing whether or not the conversation exists.

Client → server frames (JSON objects, at most ``MAX_FRAME_CHARS`` characters, rate limited):

    {"type": "ping"}
    {"type": "heartbeat", "status": "online" | "away"}
    {"type": "subscribe", "conversation_id": 12}          (one open conversation per tab)
    {"type": "unsubscribe"}
    {"type": "typing", "conversation_id": 12, "typing": true}
    {"type": "read", "conversation_id": 12, "message_id": 345}
    {"type": "send", "conversation_id": 12, "body": "…", "note": false, "ref": "client id"}

Server → client: ``hello``, ``pong``, ``subscribed``, ``sent``, ``event`` (a domain event with
its organization ``seq``, ids and the rendered ``html`` / list ``item``), ``events`` (several at
once, in order), ``resync`` (what the tab missed is gone from the stream: reload the partials),
``presence``, ``typing``, ``read``, ``notification``, ``badge`` and ``error`` (``code``,
``message``, ``ref``). A bad frame gets an ``error`` and the connection stays open.

The URL's query may carry ``since`` (the last ``seq`` the tab has) and ``lang``: the events
after ``since`` the member may see are replayed before the live ones (``realtime``, ``hub``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from types import SimpleNamespace
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import AgentStatus
from accounts.sockets import still_member_or_close
from accounts.tenancy import read_only_message, resolve_tenant
from conversations import services as conversation_services
from conversations.inbox import hub, realtime, selectors, services
from conversations.inbox.groups import conversation_group, inbox_group, user_group
from pytake import metrics
from pytake.request_input import has_unstorable_text

logger = logging.getLogger(__name__)

MAX_FRAME_CHARS = 16 * 1024
RATE_PER_SECOND = 10.0
RATE_BURST = 30
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NO_ORGANIZATION = 4403
VIEWER_REFRESH_SECONDS = 30


class TokenBucket:
    """``burst`` frames at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float = RATE_PER_SECOND, burst: int = RATE_BURST):
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FrameError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _positive_int(frame: dict, name: str) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FrameError("invalid", _("“%(name)s” must be a positive integer.") % {"name": name})
    return value


def _not_found() -> FrameError:
    return FrameError("not_found", _("This conversation does not exist or you may not act on it."))


def _resolve_tenant(user, session):
    shim = SimpleNamespace(user=user, session=session if session is not None else {})
    resolve_tenant(shim)
    return shim.organization, shim.membership


def _unread_count(organization_id: int, user_id: int) -> int | None:
    try:
        from notifications.selectors import unread_count
    except ImportError:
        return None
    return unread_count(organization_id=organization_id, user_id=user_id)


def _query(scope) -> tuple[int | None, str]:
    """``since`` and ``lang`` from the websocket URL (anything malformed is ignored)."""
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    since = None
    try:
        since = int(params.get("since", [""])[0])
    except ValueError:
        pass
    if since is not None and not 0 <= since < 2**63:  # a Redis stream id is a 64-bit number
        since = None
    languages = [code for code, _name in settings.LANGUAGES]
    language = params.get("lang", [""])[0].lower()
    return since, language if language in languages else settings.LANGUAGE_CODE


class InboxConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        organization, membership = await database_sync_to_async(_resolve_tenant)(user, self.scope.get("session"))
        if organization is None:
            await self.close(code=CLOSE_NO_ORGANIZATION)
            return
        self.user, self.organization, self.membership = user, organization, membership
        self.subscribed: int | None = None
        self.heartbeats = False
        self.bucket = TokenBucket()
        self.groups_joined = [inbox_group(organization.pk), user_group(organization.pk, user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        since, self.language = _query(self.scope)
        self.viewer = await database_sync_to_async(selectors.realtime_viewer)(organization=organization, user=user)
        self.viewer_loaded = time.monotonic()
        # Join the stream before saying hello: every event after the hello's ``seq`` reaches this tab.
        self.replaying, self.held = True, []
        self.hub = hub.get()
        await self.hub.join(self)
        current = int(await self.hub.redis.get(realtime.sequence_key(organization.pk)) or 0)
        self.sent_seq = current if since is None else since
        await self.accept()
        metrics.websocket_opened("inbox")
        can_act = selectors.can_act(membership)
        await self.send_json(
            {
                "type": "hello",
                "user_id": user.pk,
                "organization_id": organization.pk,
                "can_act": can_act,
                "seq": current,
            }
        )
        if can_act:
            await self._heartbeat(AgentStatus.ONLINE)
        unread = await database_sync_to_async(_unread_count)(organization.pk, user.pk)
        if unread is not None:
            await self.send_json({"type": "badge", "unread": unread})
        try:
            if since is not None:
                await self._replay(since)
        finally:
            self.replaying = False
        held, self.held = self.held, []
        for entries, superseded in held:
            await self.deliver(entries, superseded)

    # --- the organization's stream: replay, then live entries from the process's hub -----------

    @property
    def organization_id(self) -> int:
        return self.organization.pk

    async def _replay(self, since: int) -> None:
        redis = self.hub.redis
        async with redis.pipeline(transaction=True) as pipe:
            pipe.get(realtime.sequence_key(self.organization_id))
            pipe.xrange(
                realtime.stream_key(self.organization_id), min=f"{since + 1}-0", max="+", count=realtime.REPLAY_MAX
            )
            current, items = await pipe.execute()
        current = int(current or 0)
        entries = realtime.replay_plan(since, current, items)
        if entries is None:
            await self.resync(current)
            return
        await self._send_entries(entries, realtime.superseded_items(entries))

    async def deliver(self, entries: list, superseded: set) -> None:
        """Live entries from the hub (held while the replay is being sent)."""
        if self.replaying:
            self.held.append((entries, superseded))
            return
        if time.monotonic() - self.viewer_loaded > VIEWER_REFRESH_SECONDS:
            # Re-read role and queues off the hub's path: it must not wait on the database per tab.
            self.viewer_loaded = time.monotonic()
            self.viewer_refresh = asyncio.get_running_loop().create_task(self._refresh_viewer())
        await self._send_entries(entries, superseded)

    async def _refresh_viewer(self) -> None:
        try:
            self.viewer = await database_sync_to_async(selectors.realtime_viewer)(
                organization=self.organization, user=self.user
            )
        except Exception:
            logger.exception("refreshing the realtime viewer of user %s failed", self.user.pk)

    async def _send_entries(self, entries: list, superseded: set) -> None:
        if self.viewer is None:
            await self.close(code=CLOSE_NO_ORGANIZATION)
            return
        texts = [
            entry.text(self.language, with_item=entry.seq not in superseded)
            for entry in entries
            if entry.seq > self.sent_seq and entry.visible_to(self.viewer)
        ]
        if entries:
            self.sent_seq = max(self.sent_seq, entries[-1].seq)
        if texts:
            await self.send(text_data=realtime.batch_text(texts))

    async def resync(self, seq: int) -> None:
        hub.stats["resyncs"] += 1
        self.sent_seq = seq
        await self.send(text_data=realtime.resync_text(seq))
        try:
            await self.hub.redis.incr(realtime.resyncs_key())
        except Exception:
            logger.warning("could not count a resync")

    async def disconnect(self, code):
        if hasattr(self, "hub"):
            self.hub.leave(self)
        if not hasattr(self, "groups_joined"):
            return
        metrics.websocket_closed("inbox")
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.subscribed is not None:
            await self.channel_layer.group_discard(
                conversation_group(self.organization.pk, self.subscribed), self.channel_name
            )
        if self.heartbeats and self.membership is not None:
            try:
                await database_sync_to_async(services.presence_disconnect)(
                    membership=self.membership, connection=self.channel_name
                )
            except Exception:
                logger.exception("presence on disconnect failed for user %s", self.user.pk)

    async def send_json(self, content: dict) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))

    async def error(self, code: str, message: str, ref=None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "ref": ref})

    # --- frames from the browser -------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        ref = None
        try:
            if text_data is None:
                raise FrameError("malformed", _("Send JSON text frames."))
            if len(text_data) > MAX_FRAME_CHARS:
                raise FrameError(
                    "too_large", _("Frames are limited to %(limit)d characters.") % {"limit": MAX_FRAME_CHARS}
                )
            if not self.bucket.take():
                raise FrameError("rate_limited", _("Too many frames; slow down."))
            try:
                frame = json.loads(text_data)
            except RecursionError:
                raise FrameError("malformed", _("The frame is nested too deeply.")) from None
            except ValueError:
                raise FrameError("malformed", _("The frame is not valid JSON.")) from None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise FrameError("malformed", _("A frame is a JSON object with a “type”."))
            if isinstance(frame.get("ref"), (str, int)) and len(str(frame["ref"])) <= 64:
                ref = (
                    frame["ref"] if not isinstance(frame["ref"], str) or not has_unstorable_text(frame["ref"]) else None
                )
            if any(isinstance(v, str) and has_unstorable_text(v) for v in (*frame, *frame.values())):
                raise FrameError("invalid", _("Text may not contain NUL characters or lone surrogates."))
            handler = self.HANDLERS.get(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", _("Unknown frame type."))
            await handler(self, frame, ref)
        except FrameError as problem:
            await self.error(problem.code, problem.message, ref)
        except ValidationError as problem:
            await self.error("invalid", " ".join(problem.messages), ref)
        except Exception:
            logger.exception("inbox frame failed for user %s", getattr(getattr(self, "user", None), "pk", None))
            await self.error("server_error", _("Something went wrong; try again."), ref)

    async def _acting_conversation(self, frame: dict):
        """Fresh membership and the conversation it may act on, or a ``not_found`` refusal."""
        conversation_id = _positive_int(frame, "conversation_id")
        membership = None
        if self.membership is not None:
            membership = await database_sync_to_async(selectors.membership_get_fresh)(membership_id=self.membership.pk)
        conversation = await database_sync_to_async(selectors.conversation_get_for_member)(
            organization=self.organization, membership=membership, conversation_id=conversation_id, acting=True
        )
        if conversation is None:
            raise _not_found()
        return membership, conversation

    async def on_ping(self, frame, ref):
        await self.send_json({"type": "pong", "ref": ref})

    async def on_heartbeat(self, frame, ref):
        status = frame.get("status")
        if status not in services.HEARTBEAT_STATUSES:
            raise FrameError("invalid", _("“status” must be online or away."))
        if not selectors.can_act(self.membership):
            raise FrameError("forbidden", _("Viewers have no agent status."))
        await self._heartbeat(status)

    async def _heartbeat(self, status: str) -> None:
        self.heartbeats = True
        await database_sync_to_async(services.presence_heartbeat)(
            membership=self.membership, connection=self.channel_name, status=status
        )

    async def on_subscribe(self, frame, ref):
        _membership, conversation = await self._acting_conversation(frame)
        if self.subscribed != conversation.pk:
            if self.subscribed is not None:
                await self.channel_layer.group_discard(
                    conversation_group(self.organization.pk, self.subscribed), self.channel_name
                )
            await self.channel_layer.group_add(
                conversation_group(self.organization.pk, conversation.pk), self.channel_name
            )
            self.subscribed = conversation.pk
        await self.send_json({"type": "subscribed", "conversation_id": conversation.pk, "ref": ref})

    async def on_unsubscribe(self, frame, ref):
        if self.subscribed is not None:
            await self.channel_layer.group_discard(
                conversation_group(self.organization.pk, self.subscribed), self.channel_name
            )
            self.subscribed = None
        await self.send_json({"type": "unsubscribed", "ref": ref})

    def _require_subscribed(self, frame: dict) -> int:
        conversation_id = _positive_int(frame, "conversation_id")
        if conversation_id != self.subscribed:
            raise _not_found()
        return conversation_id

    async def on_typing(self, frame, ref):
        self._require_subscribed(frame)
        membership, conversation = await self._acting_conversation(frame)
        await self.channel_layer.group_send(
            conversation_group(self.organization.pk, conversation.pk),
            {
                "type": "inbox.typing",
                "conversation_id": conversation.pk,
                "user_id": self.user.pk,
                "name": self.user.get_short_name(),
                "typing": bool(frame.get("typing", True)),
                "sender": self.channel_name,
            },
        )

    async def on_read(self, frame, ref):
        self._require_subscribed(frame)
        message_id = _positive_int(frame, "message_id")
        membership, conversation = await self._acting_conversation(frame)
        await database_sync_to_async(services.read_receipt)(
            membership=membership, conversation_id=conversation.pk, message_id=message_id
        )

    async def on_send(self, frame, ref):
        body = frame.get("body", "")
        if not isinstance(body, str):
            raise FrameError("invalid", _("“body” must be text."))
        membership, conversation = await self._acting_conversation(frame)
        if (refusal := read_only_message(self.organization)) is not None:
            raise FrameError("read_only", refusal)
        if frame.get("note"):
            message = await database_sync_to_async(conversation_services.note_add)(
                conversation=conversation, author=membership, body=body
            )
        else:
            message = await database_sync_to_async(conversation_services.message_send)(
                conversation=conversation, author=membership, body=body
            )
        await self.send_json({"type": "sent", "conversation_id": conversation.pk, "message_id": message.pk, "ref": ref})

    HANDLERS = {
        "ping": on_ping,
        "heartbeat": on_heartbeat,
        "subscribe": on_subscribe,
        "unsubscribe": on_unsubscribe,
        "typing": on_typing,
        "read": on_read,
        "send": on_send,
    }

    # --- group messages ------------------------------------------------------------------------

    async def inbox_presence(self, message):
        await self.send_json({"type": "presence", "user_id": message["user_id"], "status": message["status"]})

    async def inbox_typing(self, message):
        if message.get("sender") == self.channel_name or message.get("conversation_id") != self.subscribed:
            return
        await self.send_json(
            {key: message[key] for key in ("conversation_id", "user_id", "name", "typing")} | {"type": "typing"}
        )

    async def inbox_read(self, message):
        if message.get("conversation_id") != self.subscribed:
            return
        await self.send_json(
            {key: message[key] for key in ("conversation_id", "user_id", "name", "message_id")} | {"type": "read"}
        )

    async def _still_member(self) -> bool:
        return await still_member_or_close(self, user_id=self.user.pk, organization_id=self.organization.pk)

    async def notification_message(self, message):
        """From the notifications app (``GroupAdapter``): an in-app or websocket notification.

        The membership is re-checked first, as the notifications socket does: a removed member's
        open tab is closed instead of receiving it."""
        if not await self._still_member():
            return
        await self.send_json(
            {
                "type": "notification",
                "subject": message.get("subject", ""),
                "message": message.get("message", ""),
                "urgent": bool(message.get("urgent")),
                "unread": message.get("unread"),
            }
        )

    async def notification_unread(self, message):
        if not await self._still_member():
            return
        await self.send_json({"type": "badge", "unread": message.get("unread")})

    notification_new = notification_message
