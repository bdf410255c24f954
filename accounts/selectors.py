from __future__ import annotations

from django.db.models import Count, Prefetch, Q

from accounts.models import Department, Membership, Organization, Queue
from accounts.roles import Role


def membership_list_for_user(*, user) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user, organization__is_active=True)
        .select_related("organization")
        .order_by("organization__name")
    )


def organization_get(*, organization_id) -> Organization | None:
    try:
        return Organization.objects.get(pk=organization_id, is_active=True)
    except (Organization.DoesNotExist, ValueError, TypeError):
        return None


def organization_first() -> Organization | None:
    return Organization.objects.filter(is_active=True).order_by("name").first()


def organization_list_all() -> list[Organization]:
    """Every organization: only for super admins' switcher."""
    return list(Organization.objects.filter(is_active=True).order_by("name"))


def member_list(*, organization: Organization):
    return (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .prefetch_related("skills")
        .order_by("role", "user__full_name", "user__email")
    )


def member_count(*, organization: Organization) -> int:
    return Membership.objects.for_organization(organization).count()


def department_list_with_queues(*, organization: Organization):
    queues = (
        Queue.objects.for_organization(organization).annotate(agent_count=Count("agents")).order_by("-priority", "name")
    )
    return (
        Department.objects.for_organization(organization)
        .prefetch_related(Prefetch("queues", queryset=queues))
        .order_by("name")
    )


def organization_overview(*, organization: Organization) -> dict:
    counts = Membership.objects.for_organization(organization).aggregate(
        admins=Count("pk", filter=Q(role=Role.ORG_ADMIN)),
        agents=Count("pk", filter=Q(role=Role.AGENT)),
        viewers=Count("pk", filter=Q(role=Role.VIEWER)),
        online=Count("pk", filter=Q(status="online")),
    )
    return {"members": counts, "limits": organization.limits}


def membership_is_current(*, user_id: int, organization_id: int) -> bool:
    """Whether the user still belongs to the (active) organization, as an active user.

    Websocket consumers call it before every push, not only at connect: a member removed or
    deactivated stops receiving at once.
    """
    return Membership.objects.filter(
        user_id=user_id, organization_id=organization_id, organization__is_active=True, user__is_active=True
    ).exists()
