"""The dashboard's piece of the inbox: the work of the person looking at it.

The dashboard page belongs to the accounts app (below conversations), so it loads this piece with
``hx-get``: an agent's open, pending, breaching-soon and snoozed conversations and their recent
satisfaction ratings; for an org admin, also the organization's queues with what waits in them
(count, oldest wait) and the agents online now.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Avg, Count, Min, Q
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import AgentStatus, Membership, Organization, Queue
from accounts.roles import ACTING_ROLES, ALL_ROLES, Role
from accounts.tenancy import role_required
from conversations.inbox.selectors import breaching_soon_q
from conversations.models import ACTIVE_STATUSES, Conversation, CsatSurvey, Status

CSAT_DAYS = 30


def my_work(*, organization: Organization, membership: Membership, now: dt.datetime) -> dict:
    """Counts of the member's own conversations, in one query."""
    mine = Conversation.objects.for_organization(organization).filter(assignee=membership, status__in=ACTIVE_STATUSES)
    awake = Q(snoozed_at__isnull=True)
    counts = mine.aggregate(
        open=Count("pk", filter=awake & Q(status=Status.OPEN)),
        pending=Count("pk", filter=awake & Q(status=Status.PENDING)),
        breaching=Count("pk", filter=breaching_soon_q(now)),
        snoozed=Count("pk", filter=Q(snoozed_at__isnull=False)),
    )
    csat = CsatSurvey.objects.filter(
        organization=organization,
        agent=membership,
        score__isnull=False,
        rated_at__gte=now - dt.timedelta(days=CSAT_DAYS),
    ).aggregate(average=Avg("score"), count=Count("pk"))
    return counts | {"csat_average": csat["average"], "csat_count": csat["count"]}


def queue_overview(*, organization: Organization) -> list[dict]:
    """Each active queue: conversations waiting for an agent (open, unassigned, awake), the oldest
    one's start, and its agents online now; one query for the queues, one for the agents."""
    waiting = Q(
        conversations__status=Status.OPEN,
        conversations__assignee__isnull=True,
        conversations__snoozed_at__isnull=True,
    )
    queues = list(
        Queue.objects.for_organization(organization)
        .filter(is_active=True)
        .select_related("department")
        .annotate(
            waiting=Count("conversations", filter=waiting), oldest=Min("conversations__created_at", filter=waiting)
        )
        .order_by("-priority", "name")
    )
    online: dict[int, list[str]] = {}
    for queue_id, name, email in Membership.queues.through.objects.filter(
        queue__organization=organization,
        membership__status=AgentStatus.ONLINE,
        membership__role__in=ACTING_ROLES,
        membership__user__is_active=True,
    ).values_list("queue_id", "membership__user__full_name", "membership__user__email"):
        online.setdefault(queue_id, []).append(name or email)
    return [
        {"queue": queue, "waiting": queue.waiting, "oldest": queue.oldest, "online": online.get(queue.pk, [])}
        for queue in queues
    ]


def agents_online(*, organization: Organization) -> list[Membership]:
    return list(
        Membership.objects.for_organization(organization)
        .filter(role__in=ACTING_ROLES, user__is_active=True)
        .exclude(status=AgentStatus.OFFLINE)
        .select_related("user")
        .order_by("user__full_name")
    )


@require_GET
@role_required(*ALL_ROLES)
def my_work_view(request):
    organization, membership = request.organization, request.membership
    now = timezone.now()
    context = {"now": now}
    if membership is not None and membership.role in ACTING_ROLES:
        context["work"] = my_work(organization=organization, membership=membership, now=now)
    if membership is None or membership.role == Role.ORG_ADMIN:
        context["queues"] = queue_overview(organization=organization)
        context["online"] = agents_online(organization=organization)
    return render(request, "conversations/inbox/dashboard.html", context)
