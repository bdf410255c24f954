"""Test data built through the services, as the application builds it."""

from __future__ import annotations

import itertools

from accounts import audit, services
from accounts.models import (
    APIToken,
    AuditLogEntry,
    BusinessHours,
    Department,
    Holiday,
    Membership,
    Organization,
    Queue,
    Skill,
    User,
)
from accounts.roles import Role
from pytake.app_modules import import_if_present

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def organization(name: str | None = None, plan: str = "professional", **fields) -> Organization:
    n = next(_seq)
    name = name or f"Org {n}"
    return services.organization_create(name=name, slug=fields.pop("slug", f"org-{n}"), plan=plan, **fields)


def member(org: Organization, role: str = Role.AGENT, email: str | None = None, **fields) -> Membership:
    email = email or f"{role}-{next(_seq)}@{org.slug}.test"
    return services.member_add(organization=org, email=email, role=role, password=PASSWORD, **fields)


def superuser(email: str = "root@pytake.test") -> User:
    return User.objects.create_superuser(email=email, password=PASSWORD)


def department(org: Organization, name: str | None = None) -> Department:
    return services.department_create(organization=org, name=name or f"Dept {next(_seq)}")


def queue(org: Organization, dept: Department | None = None, name: str | None = None, **fields) -> Queue:
    return services.queue_create(department=dept or department(org), name=name or f"Queue {next(_seq)}", **fields)


def skill(org: Organization, name: str | None = None) -> Skill:
    return Skill.objects.create(organization=org, name=name or f"Skill {next(_seq)}")


def business_hours(org: Organization) -> BusinessHours:
    import datetime

    return BusinessHours.objects.create(
        organization=org, weekday=next(_seq) % 7, start=datetime.time(9), end=datetime.time(17)
    )


def holiday(org: Organization) -> Holiday:
    import datetime

    return Holiday.objects.create(
        organization=org, date=datetime.date(2030, 1, 1) + datetime.timedelta(days=next(_seq)), name="Holiday"
    )


# One row of each tenant model for the admin isolation tests. Every model registered in the
# admin with tenant data must have a builder (a test fails otherwise): other apps add theirs as
# ``TENANT_ROW_BUILDERS`` in ``tests/<app>/factories.py``.
ACCOUNTS_ROW_BUILDERS = {
    Organization: lambda org: org,
    User: lambda org: member(org).user,
    Membership: lambda org: member(org),
    Department: lambda org: department(org),
    Queue: lambda org: queue(org),
    Skill: lambda org: skill(org),
    BusinessHours: business_hours,
    Holiday: holiday,
    AuditLogEntry: lambda org: audit.record(organization=org, actor=None, action="test.row", obj=org),
    APIToken: lambda org: api_token(org),
}


def api_token(org):
    admin = member(org, Role.ORG_ADMIN)
    row, _token = services.api_token_create(organization=org, user=admin.user, name="Row", scopes=["contacts:read"])
    return row


def tenant_row_builders() -> dict:
    builders = dict(ACCOUNTS_ROW_BUILDERS)
    for app in ("conversations", "notifications", "scheduling", "campaigns", "assistant", "contacts", "api"):
        module = import_if_present(f"tests.{app}.factories")
        if module is not None:
            builders.update(getattr(module, "TENANT_ROW_BUILDERS", {}))
    return builders
