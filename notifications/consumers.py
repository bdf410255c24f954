"""The user's live notification socket: ``/ws/notifications/`` joins ``org-<id>.user-<id>``."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts import selectors as account_selectors
from accounts.sockets import still_member_or_close
from accounts.tenancy import SESSION_KEY
from notifications import selectors
from notifications.adapters import user_group_name
from pytake import metrics


@database_sync_to_async
def _current_membership(user, wanted_org_id):
    """The same choice as ``TenantMiddleware``: the session's organization if the user is a member there."""
    if not user.is_authenticated:
        return None
    memberships = account_selectors.membership_list_for_user(user=user)
    chosen = next((m for m in memberships if m.organization_id == wanted_org_id), None)
    return chosen or (memberships[0] if memberships else None)


@database_sync_to_async
def _unread(organization_id: int, user_id: int) -> int:
    return selectors.unread_count(organization_id=organization_id, user_id=user_id)


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    group = None

    async def connect(self):
        user = self.scope.get("user")
        session = self.scope.get("session")
        wanted = session.get(SESSION_KEY) if session is not None else None
        membership = await _current_membership(user, wanted) if user is not None else None
        if membership is None:
            await self.close(code=4403)
            return
        self.organization_id, self.user_id = membership.organization_id, user.pk
        self.group = user_group_name(organization_id=self.organization_id, user_id=self.user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        metrics.websocket_opened("notifications")
        await self.send_json({"type": "unread", "unread": await _unread(self.organization_id, self.user_id)})

    async def disconnect(self, code):
        if self.group:
            metrics.websocket_closed("notifications")
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "sync":
            await self.send_json({"type": "unread", "unread": await _unread(self.organization_id, self.user_id)})
        else:
            await self.send_json({"type": "error", "error": 'unknown frame; send {"type": "sync"}'})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except RecursionError:
            await self.send_json({"type": "error", "error": "the frame is nested too deeply"})
        except ValueError:
            await self.send_json({"type": "error", "error": "frames must be JSON"})

    async def _allowed(self) -> bool:
        """Checked on every push, not only at connect: a removed member stops receiving at once."""
        return await still_member_or_close(self, user_id=self.user_id, organization_id=self.organization_id)

    async def notification_message(self, event):
        if await self._allowed():
            await self.send_json({"type": "notification", **{k: v for k, v in event.items() if k != "type"}})

    async def notification_unread(self, event):
        if await self._allowed():
            await self.send_json({"type": "unread", "unread": event["unread"]})
