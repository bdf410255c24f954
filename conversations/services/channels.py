"""Channels: a number of the organization on a messaging provider."""

from __future__ import annotations

from django.db import transaction

from accounts.limits import plan_limit_check
from accounts.models import Organization
from conversations.models import Channel

CHANNEL_FIELDS = (
    "kind",
    "display_phone",
    "phone_number_id",
    "access_token",
    "app_secret",
    "verify_token",
    "business_account_id",
    "default_queue",
    "is_active",
)


@transaction.atomic
def channel_create(*, organization: Organization, name: str, **fields) -> Channel:
    """Add a channel within the plan's channel limit (checked with the organization row locked)."""
    unknown = set(fields) - set(CHANNEL_FIELDS)
    if unknown:
        raise TypeError(f"channel_create() got unknown fields: {', '.join(sorted(unknown))}")
    plan_limit_check(organization=organization, resource="channels")
    channel = Channel(organization=organization, name=name, **fields)
    channel.full_clean()
    channel.save()
    return channel
