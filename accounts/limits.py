"""Plan limits and monthly usage: the one check every limited resource goes through.

Resources come in two shapes:

- **stock** (``users``, ``channels``, ``contacts``): the figure is how many rows exist now. The app
  that owns the rows registers how to count them (``register_count``, from its ``AppConfig.ready``)
  so accounts never imports the apps above it.
- **monthly** (``appointments``, ``messages``): the figure is this month's ``OrganizationUsage``
  counter, in the organization's time zone.

``plan_limit_check`` locks the organization row before counting, so two transactions cannot both
take the last slot: the second waits for the first to commit and then counts its row too.
Outbound messages are checked on a hot path, so ``usage_increment(..., enforce_limit=True)``
checks and counts in the same single statement (the counter row's lock serializes senders);
both refuse with the same message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Membership, Organization, OrganizationUsage

USAGE_FIELDS = ("messages_sent", "messages_received", "contacts_created", "appointments_created")


@dataclass(frozen=True)
class Resource:
    name: str
    label: object
    limit_attr: str
    usage_field: str | None = None  # monthly resources: the counter that is the current figure

    @property
    def monthly(self) -> bool:
        return self.usage_field is not None


RESOURCES: dict[str, Resource] = {
    resource.name: resource
    for resource in (
        Resource("users", gettext_lazy("Users"), "users"),
        Resource("channels", gettext_lazy("Channels"), "channels"),
        Resource("contacts", gettext_lazy("Contacts"), "contacts"),
        Resource(
            "appointments", gettext_lazy("Appointments this month"), "appointments_per_month", "appointments_created"
        ),
        Resource("messages", gettext_lazy("Messages sent this month"), "messages_per_month", "messages_sent"),
    )
}
_BY_USAGE_FIELD = {resource.usage_field: resource for resource in RESOURCES.values() if resource.monthly}

_counts: dict[str, Callable[[Organization], int]] = {
    "users": lambda organization: Membership.objects.for_organization(organization).count(),
}


def register_count(resource: str, count: Callable[[Organization], int]) -> None:
    """Tell the limits how to count a stock resource's rows of an organization."""
    if resource not in RESOURCES or RESOURCES[resource].monthly:
        raise ValueError(f"{resource!r} is not a stock resource")
    _counts[resource] = count


def month_of(organization: Organization, at: dt.datetime | None = None) -> dt.date:
    """The first day of the month holding ``at`` (default now) in the organization's time zone."""
    return timezone.localdate(at or timezone.now(), organization.tzinfo).replace(day=1)


def limit_of(organization: Organization, resource: str) -> int | None:
    return getattr(organization.limits, RESOURCES[resource].limit_attr)


def current_figure(*, organization: Organization, resource: str, at: dt.datetime | None = None) -> int:
    """The figure a limit is compared with: rows now, or this month's counter."""
    spec = RESOURCES[resource]
    if spec.monthly:
        return (
            OrganizationUsage.objects.filter(organization=organization, month=month_of(organization, at))
            .values_list(spec.usage_field, flat=True)
            .first()
            or 0
        )
    return _counts[resource](organization)


def _refusal(organization: Organization, resource: str, limit: int, current: int) -> ValidationError:
    values = {"plan": organization.get_plan_display(), "limit": limit, "org": organization.name, "current": current}
    if resource == "users":
        message = _(
            "The %(plan)s plan allows up to %(limit)d users and %(org)s already has %(current)d. "
            "Upgrade the plan or remove a member first."
        )
    elif resource == "channels":
        message = _(
            "The %(plan)s plan allows up to %(limit)d channels and %(org)s already has %(current)d. "
            "Upgrade the plan or remove a channel first."
        )
    elif resource == "contacts":
        message = _(
            "The %(plan)s plan allows up to %(limit)d contacts and %(org)s has %(current)d. "
            "Upgrade the plan or remove contacts first."
        )
    elif resource == "appointments":
        # Read by customers on the public booking page: it names no plan.
        message = _(
            "This organization has reached its plan's limit of %(limit)d appointments this month. "
            "Please contact the organization or try again next month."
        )
    else:
        message = _(
            "The %(plan)s plan allows %(limit)d messages a month and %(org)s has sent %(current)d this month. "
            "Upgrade the plan or wait until next month."
        )
    return ValidationError(message % values, code=f"plan_limit_{resource}")


def plan_limit_check(
    *, organization: Organization, resource: str, adding: int = 1, at: dt.datetime | None = None
) -> None:
    """Refuse (``ValidationError``, code ``plan_limit_<resource>``) when ``adding`` more would pass the plan.

    Call it inside the transaction that adds the rows: it locks the organization row, so the
    figure stays true until the commit. Unlimited resources cost no query.
    """
    limit = limit_of(organization, resource)
    if limit is None:
        return
    Organization.objects.select_for_update().filter(pk=organization.pk).values_list("pk", flat=True).get()
    current = current_figure(organization=organization, resource=resource, at=at)
    if current + adding > limit:
        raise _refusal(organization, resource, limit, current)


def usage_increment(
    *,
    organization: Organization,
    field: str,
    by: int = 1,
    at: dt.datetime | None = None,
    enforce_limit: bool = False,
) -> int:
    """Add ``by`` to this month's ``field`` counter in one statement; returns the new value.

    ``INSERT … ON CONFLICT DO UPDATE SET field = field + by``: no read-modify-write, so concurrent
    increments never lose one. With ``enforce_limit`` (fields that are a plan's monthly figure:
    ``messages_sent``, ``appointments_created``) the update only happens while the plan allows
    it; otherwise the counter is left alone and the plan-limit ``ValidationError`` is raised.
    """
    if field not in USAGE_FIELDS:
        raise ValueError(f"unknown usage field {field!r}")
    if by < 0:
        raise ValueError("usage only grows")
    resource = _BY_USAGE_FIELD.get(field) if enforce_limit else None
    limit = limit_of(organization, resource.name) if resource is not None else None
    if limit is not None and by > limit:
        raise _refusal(
            organization, resource.name, limit, current_figure(organization=organization, resource=resource.name, at=at)
        )
    table = OrganizationUsage._meta.db_table
    others = ", ".join(f for f in USAGE_FIELDS if f != field)
    guard = f" WHERE {table}.{field} + EXCLUDED.{field} <= %(limit)s" if limit is not None else ""
    sql = (
        f"INSERT INTO {table} (organization_id, month, {field}, {others}) "
        f"VALUES (%(organization)s, %(month)s, %(by)s, {', '.join('0' for _ in USAGE_FIELDS[1:])}) "
        f"ON CONFLICT (organization_id, month) DO UPDATE SET {field} = {table}.{field} + EXCLUDED.{field}{guard} "
        f"RETURNING {field}"
    )
    params = {"organization": organization.pk, "month": month_of(organization, at), "by": by, "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise _refusal(
            organization, resource.name, limit, current_figure(organization=organization, resource=resource.name, at=at)
        )
    return row[0]


def usage_months(*, organization: Organization, months: int = 6, at: dt.datetime | None = None) -> list[dict]:
    """The last ``months`` months of counters, newest first; months without a row are zeros."""
    first = month_of(organization, at)
    wanted = [first]
    for _step in range(months - 1):
        wanted.append((wanted[-1] - dt.timedelta(days=1)).replace(day=1))
    stored = {
        row["month"]: row
        for row in OrganizationUsage.objects.filter(organization=organization, month__in=wanted).values(
            "month", *USAGE_FIELDS
        )
    }
    return [stored.get(month) or {"month": month, **dict.fromkeys(USAGE_FIELDS, 0)} for month in wanted]


def usage_overview(*, organization: Organization, at: dt.datetime | None = None) -> list[dict]:
    """Each limited resource: its label, current figure, limit (``None``: unlimited) and percent used."""
    rows = []
    for resource in RESOURCES.values():
        limit = limit_of(organization, resource.name)
        current = current_figure(organization=organization, resource=resource.name, at=at)
        # Rounded down: 4,999 of 5,000 is 99%, not "100%" while one is still left.
        percent = None if limit is None else (100 if limit == 0 else current * 100 // limit)
        rows.append(
            {
                "resource": resource.name,
                "label": resource.label,
                "monthly": resource.monthly,
                "current": current,
                "limit": limit,
                "percent": percent,
                # The bar's width as a CSS class (``usage-fill-35``): no inline style under the CSP.
                "bar": None if percent is None else min(100, 5 * (percent // 5)),
                "level": None if limit is None else ("full" if current >= limit else "high" if percent >= 80 else "ok"),
            }
        )
    return rows
