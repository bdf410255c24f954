"""Reads of the assistant's settings, providers and usage; each takes the organization."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from accounts.limits import month_of
from accounts.models import Organization
from conversations.assistant.models import (
    AssistantCall,
    AssistantProvider,
    AssistantSettings,
    Feature,
    Outcome,
    ProviderKind,
)


def settings_for(organization: Organization) -> AssistantSettings:
    """The stored settings, or unsaved defaults (off) when the organization never saved any."""
    found = AssistantSettings.objects.for_organization(organization).first()
    return found or AssistantSettings(organization=organization)


def provider_list(*, organization: Organization, active_only: bool = False) -> list[AssistantProvider]:
    providers = AssistantProvider.objects.for_organization(organization)
    if active_only:
        providers = providers.filter(is_active=True)
    return list(providers.order_by("position", "id"))


def provider_get(*, organization: Organization, provider_id) -> AssistantProvider | None:
    try:
        pk = int(provider_id)
    except (TypeError, ValueError):
        return None
    return AssistantProvider.objects.for_organization(organization).filter(pk=pk).first()


def month_start(organization: Organization, at: dt.datetime | None = None) -> dt.datetime:
    """The first instant of this month in the organization's time zone."""
    first = month_of(organization, at)
    return dt.datetime.combine(first, dt.time.min, tzinfo=organization.tzinfo)


def tokens_used_this_month(*, organization: Organization, at: dt.datetime | None = None) -> int:
    totals = (
        AssistantCall.objects.for_organization(organization)
        .filter(created_at__gte=month_start(organization, at))
        .aggregate(tokens=Coalesce(Sum("tokens_in"), 0) + Coalesce(Sum("tokens_out"), 0))
    )
    return totals["tokens"]


def is_available(*, organization: Organization) -> bool:
    """Agents get AI actions: the organization turned it on and has an active provider."""
    row = settings_for(organization)
    return bool(
        row.pk
        and row.enabled
        and AssistantProvider.objects.for_organization(organization).filter(is_active=True).exists()
    )


def usage_by_month(*, organization: Organization, months: int = 6) -> list[dict]:
    """Calls and tokens per month (organization's time zone), newest first; only months with calls."""
    since = month_start(organization)
    for _step in range(months - 1):
        since = month_start(organization, since - dt.timedelta(days=1))
    rows = (
        AssistantCall.objects.for_organization(organization)
        .filter(created_at__gte=since)
        .annotate(month=TruncMonth("created_at", tzinfo=organization.tzinfo))
        .values("month")
        .annotate(
            calls=Count("id"),
            failed=Count("id", filter=~Q(outcome=Outcome.OK)),
            tokens_in=Coalesce(Sum("tokens_in"), 0),
            tokens_out=Coalesce(Sum("tokens_out"), 0),
            cost=Sum("cost"),
        )
        .order_by("-month")
    )
    return [
        row
        | {
            "month": timezone.localtime(row["month"], organization.tzinfo).date(),
            "tokens": row["tokens_in"] + row["tokens_out"],
        }
        for row in rows
    ]


def usage_by_feature(*, organization: Organization, at: dt.datetime | None = None) -> list[dict]:
    """This month's calls and tokens per feature and provider/model."""
    rows = (
        AssistantCall.objects.for_organization(organization)
        .filter(created_at__gte=month_start(organization, at))
        .values("feature", "provider_kind", "model")
        .annotate(
            calls=Count("id"),
            failed=Count("id", filter=~Q(outcome=Outcome.OK)),
            tokens_in=Coalesce(Sum("tokens_in"), 0),
            tokens_out=Coalesce(Sum("tokens_out"), 0),
            cost=Sum("cost"),
        )
        .order_by("feature", "provider_kind", "model")
    )
    labels, kinds = dict(Feature.choices), dict(ProviderKind.choices)
    return [
        row
        | {
            "feature_label": labels.get(row["feature"], row["feature"]),
            "provider_label": kinds.get(row["provider_kind"]),
        }
        for row in rows
    ]


def recent_calls(*, organization: Organization, limit: int = 20) -> list[AssistantCall]:
    return list(
        AssistantCall.objects.for_organization(organization)
        .select_related("user")
        .order_by("-created_at", "-id")[:limit]
    )
