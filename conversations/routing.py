"""Which agent a queue's strategy picks for a new conversation.

Candidates are the queue's agents who are online, may act (org admin or agent) and hold fewer
active conversations than the queue's ``max_conversations_per_agent``:

- ``round_robin``: the candidate who least recently got a conversation from this queue;
- ``load_balance``: the candidate with the fewest active conversations (ties: round robin);
- ``skills_based``: like ``load_balance``, among candidates having every required skill;
- ``manual``: nobody; agents pull or are assigned by hand.
"""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import AgentStatus, Membership, Queue, RoutingStrategy
from accounts.roles import ACTING_ROLES
from conversations.models import ACTIVE_STATUSES, Conversation


def active_load(membership_ref) -> Subquery:
    """Active conversations held by the membership ``membership_ref`` points at."""
    return Coalesce(
        Subquery(
            Conversation.objects.filter(assignee=membership_ref, status__in=ACTIVE_STATUSES)
            .order_by()
            .values("assignee")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def candidates(queue: Queue):
    """The queue's agents who may take one more conversation now, best first for its strategy."""
    agents = (
        Membership.objects.filter(
            queues=queue, organization_id=queue.organization_id, status=AgentStatus.ONLINE, role__in=ACTING_ROLES
        )
        .annotate(
            load=active_load(OuterRef("pk")),
            last_assigned=Subquery(
                Conversation.objects.filter(queue=queue, assignee=OuterRef("pk"), assigned_at__isnull=False)
                .order_by("-assigned_at")
                .values("assigned_at")[:1]
            ),
        )
        .filter(load__lt=queue.max_conversations_per_agent)
    )
    if queue.routing_strategy == RoutingStrategy.SKILLS_BASED:
        required = list(queue.required_skills.values_list("pk", flat=True))
        if required:
            agents = agents.annotate(matched=Count("skills", filter=Q(skills__in=required), distinct=True)).filter(
                matched=len(required)
            )
    round_robin = [F("last_assigned").asc(nulls_first=True), "pk"]
    if queue.routing_strategy == RoutingStrategy.ROUND_ROBIN:
        return agents.order_by(*round_robin)
    return agents.order_by("load", *round_robin)


def pick_agent(queue: Queue) -> Membership | None:
    """The agent to assign, with the membership row locked and its capacity re-checked.

    The caller holds the queue row lock, so two assignments in one queue never pick from the
    same snapshot; the membership lock covers agents who are in several queues.
    """
    if queue.routing_strategy == RoutingStrategy.MANUAL or not queue.is_active:
        return None
    for candidate in candidates(queue)[:20]:
        locked = Membership.objects.select_for_update().filter(pk=candidate.pk, status=AgentStatus.ONLINE).first()
        if locked is None:
            continue
        load = Conversation.objects.filter(assignee=locked, status__in=ACTIVE_STATUSES).count()
        if load < queue.max_conversations_per_agent:
            return locked
    return None
