"""20 agents pulling from one queue at once: nobody gets a conversation twice, none is left."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from accounts.models import Membership
from conversations import services
from conversations.models import Conversation
from tests import factories
from tests.conversations import factories as cf

AGENTS = 20
CONVERSATIONS = 300


@pytest.mark.django_db(transaction=True)
def test_concurrent_pulls_never_double_assign_and_leave_nothing(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    agents = [cf.online_agent(tenant_a.org, queue=queue) for _ in range(AGENTS)]
    for _ in range(CONVERSATIONS):
        cf.conversation(tenant_a.org, queue=queue)
    barrier = threading.Barrier(AGENTS)
    claims: dict[int, list[int]] = {agent.pk: [] for agent in agents}
    errors: list[BaseException] = []

    def work(membership_id: int):
        try:
            membership = Membership.objects.get(pk=membership_id)
            barrier.wait()
            while (conversation := services.conversation_pull_next(membership=membership)) is not None:
                claims[membership_id].append(conversation.pk)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(agent.pk,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    claimed = [pk for pks in claims.values() for pk in pks]
    duplicates = [pk for pk, n in Counter(claimed).items() if n > 1]
    assert duplicates == []
    assert len(claimed) == CONVERSATIONS
    assert not Conversation.objects.filter(queue=queue, assignee__isnull=True).exists()
    # What each agent was told it claimed is what the database holds.
    for membership_id, pks in claims.items():
        assert set(Conversation.objects.filter(assignee_id=membership_id).values_list("pk", flat=True)) == set(pks)
    assert sum(1 for pks in claims.values() if pks) > 1  # the work was really shared
