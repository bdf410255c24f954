"""Agent presence kept in Redis with a TTL; the sweep marks offline whoever stopped beating."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from accounts.models import AgentStatus, Membership
from conversations import tasks
from conversations.inbox import presence, services
from pytake.periodic import declared_periodic_tasks

pytestmark = pytest.mark.django_db


def test_heartbeats_drive_the_membership_status_and_the_last_tab_closing_goes_offline(
    desk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert services.presence_heartbeat(membership=desk.agent, connection="tab-1", status="online") is True
        assert services.presence_heartbeat(membership=desk.agent, connection="tab-2", status="online") is False
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.ONLINE
    assert presence.current(organization_id=desk.tenant.org.pk, user_id=desk.tenant.agent.pk) == "online"
    assert (
        presence.client().ttl(presence.presence_key(desk.tenant.org.pk, desk.tenant.agent.pk)) <= presence.PRESENCE_TTL
    )

    services.presence_heartbeat(membership=desk.agent, connection="tab-2", status="away")
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.AWAY
    assert services.presence_disconnect(membership=desk.agent, connection="tab-1") is False
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.AWAY
    assert services.presence_disconnect(membership=desk.agent, connection="tab-2") is True
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.OFFLINE


def test_the_sweep_marks_offline_agents_whose_heartbeat_expired(desk):
    services.presence_heartbeat(membership=desk.agent, connection="tab-1", status="online")
    services.presence_heartbeat(membership=desk.admin, connection="tab-9", status="online")
    assert tasks.presence_sweep() == 0  # both alive
    presence.client().delete(presence.presence_key(desk.tenant.org.pk, desk.tenant.agent.pk))  # as if the TTL ran out
    assert tasks.presence_sweep() == 1
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.OFFLINE
    assert Membership.objects.get(pk=desk.admin.pk).status == AgentStatus.ONLINE
    assert tasks.presence_sweep() == 0  # untracked once handled


def test_an_agent_online_from_the_dashboard_without_the_inbox_goes_offline_when_the_heartbeat_ttl_expires(
    desk, client_for
):
    from conversations.inbox.services import presence_sweep
    from tests.inbox.conftest import inbound

    client = client_for(desk.tenant.agent)
    assert client.post("/accounts/me/status/", {"status": "online"}).status_code == 302
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.ONLINE
    assert tasks.presence_sweep() == 0  # just set: left alone for the TTL, like a socket's heartbeat
    assert inbound(desk, "first").conversation.assignee_id == desk.agent.pk
    # An agent with a live inbox tab is vouched for by its heartbeat, however old the status is.
    services.presence_heartbeat(membership=desk.admin, connection="tab-1", status="online")
    after_ttl = timezone.now() + datetime.timedelta(seconds=presence.PRESENCE_TTL + 1)
    Membership.objects.filter(pk=desk.admin.pk).update(last_seen_at=timezone.now() - datetime.timedelta(hours=2))
    assert presence_sweep(now=after_ttl) == 1
    assert Membership.objects.get(pk=desk.agent.pk).status == AgentStatus.OFFLINE
    assert Membership.objects.get(pk=desk.admin.pk).status == AgentStatus.ONLINE
    assert presence_sweep(now=after_ttl) == 0
    # Routing no longer assigns to them.
    assert inbound(desk, "second").conversation.assignee_id is None


def test_the_sweep_is_a_declared_periodic_job():
    assert declared_periodic_tasks()["conversations: inbox presence sweep"] == {
        "task": "conversations.tasks.presence_sweep",
        "every": 30,
    }


def test_read_markers_only_move_forward(desk):
    from tests.inbox.conftest import inbound

    first = inbound(desk, "one")
    second = inbound(desk, "two", phone=first.conversation.contact.phone)
    assert (
        services.read_receipt(membership=desk.agent, conversation_id=first.conversation_id, message_id=second.pk)
        is True
    )
    assert (
        services.read_receipt(membership=desk.agent, conversation_id=first.conversation_id, message_id=first.pk)
        is False
    )
    assert presence.read_markers(organization_id=desk.tenant.org.pk, conversation_id=first.conversation_id) == {
        desk.tenant.agent.pk: second.pk
    }
