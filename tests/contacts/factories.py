"""Rows of the contacts workspace, for the tenant-isolation tests of the admin."""

from __future__ import annotations

from accounts.models import Membership
from conversations.contacts import services
from conversations.contacts.models import ContactImport, CustomField


def _import(org) -> ContactImport:
    member = Membership.objects.filter(organization=org).select_related("user").first()
    return ContactImport.objects.create(
        organization=org,
        created_by=member.user if member else None,
        file=f"contact-imports/org-{org.pk}.csv",  # a name only: the admin never reads the file
        original_name="contacts.csv",
        header=["name", "phone"],
        total_rows=1,
    )


TENANT_ROW_BUILDERS = {
    CustomField: lambda org: services.custom_field_create(organization=org, key="plan", label="Plan", kind="text"),
    ContactImport: _import,
}
