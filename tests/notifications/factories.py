"""Builders for notification tests, through the services."""

from __future__ import annotations

from notifications import services
from notifications.models import NotificationLog, NotificationPreference, OrganizationNotificationSettings
from tests import factories


def preference(org, user=None, **fields) -> NotificationPreference:
    user = user or factories.member(org).user
    pref = services.preference_ensure(organization=org, user=user)
    return services.preference_update(preference=pref, **fields) if fields else pref


def org_settings(org, **fields) -> OrganizationNotificationSettings:
    return (
        services.organization_settings_update(organization=org, **fields)
        if fields
        else services.organization_settings_ensure(organization=org)
    )


def log(org, user=None, **fields) -> NotificationLog:
    user = user or factories.member(org).user
    rows = services.notify(
        organization=org,
        event_type="custom",
        recipients=[user],
        channels=["in_app"],
        context={"title": "Hello", "body": "World"},
        **fields,
    )
    return rows[0]


def staff_organization(count: int, **org_fields):
    """An enterprise organization with ``count`` agents whose emails no rate limit holds back."""
    from accounts.roles import Role

    org = factories.organization(plan="enterprise", **org_fields)
    org_settings(org, email_rate_limit_per_hour=100_000, email_batch_size=1000)
    users = []
    for _ in range(count):
        user = factories.member(org, Role.AGENT).user
        preference(org, user, max_emails_per_hour=100)
        users.append(user)
    return org, users


TENANT_ROW_BUILDERS = {
    NotificationPreference: lambda org: preference(org),
    OrganizationNotificationSettings: lambda org: org_settings(org),
    NotificationLog: lambda org: log(org),
}
