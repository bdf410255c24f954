"""Demo data: notification settings and preferences for the demo organizations, and a few notifications."""

from __future__ import annotations

import datetime

from accounts.demo_data import ORGANIZATIONS
from accounts.models import Membership, Organization
from accounts.roles import Role
from notifications import services


def seed_demo(stdout=None) -> None:
    """Notifications: organization policy, member preferences, welcome notifications in the center"""
    for spec in ORGANIZATIONS:
        org = Organization.objects.filter(slug=spec["slug"]).first()
        if org is None:
            continue
        services.organization_settings_ensure(organization=org)
        memberships = list(Membership.objects.for_organization(org).select_related("user").order_by("pk"))
        for index, membership in enumerate(memberships):
            preference = services.preference_ensure(organization=org, user=membership.user)
            if index == 1 and not preference.quiet_hours_enabled:
                services.preference_update(
                    preference=preference,
                    quiet_hours_enabled=True,
                    quiet_hours_start=datetime.time(22),
                    quiet_hours_end=datetime.time(7),
                )
        rows = services.notify(
            organization=org,
            event_type="custom",
            recipients=[m.user for m in memberships],
            channels=["in_app"],
            context={
                "title": "Bem-vindo ao PyTake" if org.locale == "pt-br" else "Welcome to PyTake",
                "body": "Ajuste suas notificações em Configurações › Notificações."
                if org.locale == "pt-br"
                else "Choose how you are notified under Settings › Notifications.",
            },
            dedupe_key="demo-welcome",
        )
        admins = [m.user for m in memberships if m.role == Role.ORG_ADMIN]
        rows += services.notify(
            organization=org,
            event_type="sla_warning",
            recipients=admins,
            channels=["in_app", "websocket"],
            context={"contact_name": "Cliente Demo", "queue_name": "Geral", "kind_label": "first response"},
            dedupe_key="demo-sla-warning",
        )
        if stdout is not None:
            stdout.write(
                f"  {org.name}: {len(memberships)} preferences, {len(rows)} demo notifications (kept if present)"
            )
