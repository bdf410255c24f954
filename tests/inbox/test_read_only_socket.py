"""The inbox websocket refuses ``send`` in a read-only organization (trial ended), with the same message as pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Organization
from conversations.models import Message
from tests.inbox.conftest import inbound
from tests.inbox.test_consumer import connected, run, until

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_frames_are_refused_and_nothing_is_stored(desk):
    conversation = inbound(desk, "hello").conversation
    Organization.objects.filter(pk=desk.tenant.org.pk).update(trial_ends_at=timezone.now() - dt.timedelta(days=1))

    async def scenario():
        agent = await connected(desk.tenant.agent)
        await agent.send_json_to({"type": "send", "conversation_id": conversation.pk, "body": "reply", "ref": "r1"})
        error = await until(agent, "error")
        assert error["code"] == "read_only" and error["ref"] == "r1"
        assert "read-only" in error["message"]
        await agent.send_json_to({"type": "ping", "ref": "p"})
        assert (await until(agent, "pong"))["ref"] == "p"  # the socket stays open for reading
        await agent.disconnect()

    run(scenario)
    assert list(Message.objects.filter(conversation=conversation).values_list("body", flat=True)) == ["hello"]
