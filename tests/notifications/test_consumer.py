"""The websocket of the notification center: tenant-first group, unread count on connect, pushes."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from accounts.models import Membership
from accounts.tenancy import SESSION_KEY
from notifications import services
from notifications.consumers import NotificationConsumer
from notifications.models import NotificationLog, Status


def _communicator(user, organization_id=None):
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = user
    # The consumer reads the chosen organization from the session, like ``TenantMiddleware``.
    communicator.scope["session"] = {SESSION_KEY: organization_id} if organization_id else {}
    return communicator


def _unread_row(org, user, title):
    row = services.notify(
        organization=org, event_type="custom", recipients=[user], channels=["in_app"], context={"title": title}
    )[0]
    NotificationLog.objects.filter(pk=row.pk).update(status=Status.SENT)
    return row


@pytest.mark.django_db(transaction=True)
def test_connect_sends_unread_count_and_receives_live_pushes(tenant_a):
    _unread_row(tenant_a.org, tenant_a.agent, "Before connecting")

    async def scenario():
        communicator = _communicator(tenant_a.agent, tenant_a.org.pk)
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_json_from() == {"type": "unread", "unread": 1}
        await get_channel_layer().group_send(
            f"org-{tenant_a.org.pk}.user-{tenant_a.agent.pk}",
            {
                "type": "notification.message",
                "id": 5,
                "channel": "in_app",
                "subject": "Hi",
                "message": "",
                "unread": 2,
                "event_type": "custom",
                "urgent": False,
            },
        )
        pushed = await communicator.receive_json_from()
        assert pushed["type"] == "notification" and pushed["unread"] == 2
        await communicator.send_to(text_data="not json")
        assert (await communicator.receive_json_from())["type"] == "error"
        await communicator.send_json_to({"type": "sync"})
        assert await communicator.receive_json_from() == {"type": "unread", "unread": 1}
        await communicator.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_anonymous_is_refused():
    async def scenario():
        connected, _ = await _communicator(AnonymousUser()).connect()
        assert not connected

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_the_session_cannot_pick_a_foreign_org_and_removed_members_stop_receiving(tenant_a, tenant_b):
    async def scenario():
        communicator = _communicator(tenant_a.agent, tenant_b.org.pk)  # not a member of B: falls back to A
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from()
        layer = get_channel_layer()
        assert (
            await layer.group_send(
                f"org-{tenant_b.org.pk}.user-{tenant_a.agent.pk}", {"type": "notification.unread", "unread": 9}
            )
        ) is None
        assert await communicator.receive_nothing(timeout=0.3)
        from channels.db import database_sync_to_async

        await database_sync_to_async(Membership.objects.filter(user=tenant_a.agent, organization=tenant_a.org).delete)()
        await layer.group_send(
            f"org-{tenant_a.org.pk}.user-{tenant_a.agent.pk}", {"type": "notification.unread", "unread": 3}
        )
        output = await communicator.receive_output(timeout=2)
        assert output["type"] == "websocket.close"

    async_to_sync(scenario)()
