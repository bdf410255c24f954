from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import Membership
from conversations.models import ChannelKind
from tests import factories
from tests.conversations import factories as cf


@dataclass
class Desk:
    """An organization's inbox: a queue with the agent in it, a console channel and a WhatsApp channel."""

    tenant: object
    queue: object
    channel: object
    whatsapp: object
    agent: Membership
    admin: Membership
    viewer: Membership


@pytest.fixture
def desk(tenant_a) -> Desk:
    org = tenant_a.org
    queue = factories.queue(org, name="Support")
    agent = Membership.objects.get(organization=org, user=tenant_a.agent)
    queue.agents.add(agent)
    return Desk(
        tenant=tenant_a,
        queue=queue,
        channel=cf.channel(org, kind=ChannelKind.CONSOLE, queue=queue),
        whatsapp=cf.channel(org, queue=queue),
        agent=agent,
        admin=Membership.objects.get(organization=org, user=tenant_a.admin),
        viewer=Membership.objects.get(organization=org, user=tenant_a.viewer),
    )


def inbound(desk: Desk, body: str = "hello", phone: str | None = None, name: str = ""):
    from conversations import services

    return services.inbound_message_receive(
        channel=desk.channel, phone=phone or cf.phone(), body=body, name=name
    ).message


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new Redis channel layer object per test: its locks and pools belong to one event loop,
    and each test (and each helper thread) runs its own."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def clean_presence():
    """Presence, read markers and realtime streams of earlier tests (same Redis db and key prefix) are forgotten."""
    from django.conf import settings

    from conversations.inbox import presence

    for pattern in ("presence:*", "read:*", "inbox:*"):
        keys = list(presence.client().scan_iter(f"{settings.REDIS_KEY_PREFIX}:{pattern}"))
        if keys:
            presence.client().delete(*keys)
    yield
