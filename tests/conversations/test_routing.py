"""Auto-assignment by the queue's strategy: round robin, load balance, skills, manual."""

from __future__ import annotations

import pytest

from accounts.models import AgentStatus
from accounts.roles import Role
from conversations import services
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def test_round_robin_rotates_through_online_agents(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="round_robin", max_conversations_per_agent=10)
    agents = [cf.online_agent(tenant_a.org, queue=queue) for _ in range(3)]
    offline = cf.online_agent(tenant_a.org, queue=queue)
    offline.status = AgentStatus.OFFLINE
    offline.save()
    picked = [cf.conversation(tenant_a.org, queue=queue).assignee for _ in range(6)]
    assert picked == agents + agents


def test_round_robin_skips_agents_at_capacity_and_away(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="round_robin", max_conversations_per_agent=1)
    first, second = cf.online_agent(tenant_a.org, queue=queue), cf.online_agent(tenant_a.org, queue=queue)
    assert cf.conversation(tenant_a.org, queue=queue).assignee == first
    assert cf.conversation(tenant_a.org, queue=queue).assignee == second
    assert cf.conversation(tenant_a.org, queue=queue).assignee is None  # both full
    second.status = AgentStatus.AWAY
    second.save()
    closed = first.assigned_conversations.get()
    services.conversation_close(conversation=closed)
    assert cf.conversation(tenant_a.org, queue=queue).assignee == first


def test_load_balance_picks_the_least_loaded_and_honours_the_maximum(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="load_balance", max_conversations_per_agent=3)
    other_queue = factories.queue(tenant_a.org, routing_strategy="manual")
    busy, free = cf.online_agent(tenant_a.org, queue=queue), cf.online_agent(tenant_a.org, queue=queue)
    # ``busy`` holds two conversations from another queue: load counts all active ones.
    for _ in range(2):
        services.conversation_assign(conversation=cf.conversation(tenant_a.org, queue=other_queue), membership=busy)
    picks = [cf.conversation(tenant_a.org, queue=queue).assignee for _ in range(4)]
    assert picks == [free, free, busy, free]
    # Both at 3 now: nobody takes the next one; it waits for a pull.
    assert cf.conversation(tenant_a.org, queue=queue).assignee is None


def test_skills_based_requires_every_skill(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="skills_based")
    spanish, billing = factories.skill(tenant_a.org, "Spanish"), factories.skill(tenant_a.org, "Billing")
    queue.required_skills.set([spanish, billing])
    only_spanish = cf.online_agent(tenant_a.org, queue=queue)
    only_spanish.skills.set([spanish])
    both = cf.online_agent(tenant_a.org, queue=queue)
    both.skills.set([spanish, billing])
    assert [cf.conversation(tenant_a.org, queue=queue).assignee for _ in range(2)] == [both, both]
    both.status = AgentStatus.OFFLINE
    both.save()
    assert cf.conversation(tenant_a.org, queue=queue).assignee is None


def test_manual_never_auto_assigns_and_viewers_never_get_work(tenant_a):
    manual = factories.queue(tenant_a.org, routing_strategy="manual")
    cf.online_agent(tenant_a.org, queue=manual)
    assert cf.conversation(tenant_a.org, queue=manual).assignee is None
    queue = factories.queue(tenant_a.org, routing_strategy="round_robin")
    viewer = cf.online_agent(tenant_a.org, queue=queue, role=Role.VIEWER)
    assert viewer.role == Role.VIEWER
    assert cf.conversation(tenant_a.org, queue=queue).assignee is None


def test_inbound_on_a_routed_channel_is_assigned(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="load_balance")
    agent = cf.online_agent(tenant_a.org, queue=queue)
    channel = cf.channel(tenant_a.org, queue=queue)
    message = services.inbound_message_receive(channel=channel, phone="+5511987651111", body="hi").message
    assert message.conversation.assignee == agent


def test_blocked_contacts_are_not_routed(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="round_robin")
    cf.online_agent(tenant_a.org, queue=queue)
    channel = cf.channel(tenant_a.org, queue=queue)
    contact = cf.contact(tenant_a.org, phone="+5511987652222")
    services.contact_set_blocked(contact=contact, blocked=True)
    message = services.inbound_message_receive(channel=channel, phone="+5511987652222", body="spam").message
    assert message.conversation.assignee is None
