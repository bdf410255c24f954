"""Tenant-scoped admin: org admins define their contact custom fields here and read past imports."""

from __future__ import annotations

from django.contrib import admin

from accounts.tenant_admin import TenantScopedAdmin
from conversations.contacts.models import ContactImport, CustomField


@admin.register(CustomField)
class CustomFieldAdmin(TenantScopedAdmin):
    list_display = ["label", "key", "kind", "position"]
    list_filter = ["kind"]
    search_fields = ["label", "key"]
    list_editable = ["position"]

    def get_readonly_fields(self, request, obj=None):
        # Stored values are keyed by ``key`` and shaped by ``kind``: both are fixed once the field exists.
        return ["key", "kind"] if obj is not None else []


@admin.register(ContactImport)
class ContactImportAdmin(TenantScopedAdmin):
    list_display = [
        "original_name",
        "status",
        "total_rows",
        "created_count",
        "updated_count",
        "rejected_count",
        "created_at",
    ]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ContactImport._meta.fields if f.name != "organization"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
