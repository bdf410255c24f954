"""Tenant-scoped admin for the AI settings, providers (keys write-only) and the call log (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.tenant_admin import TenantScopedAdmin
from conversations.assistant import crypto
from conversations.assistant.forms import ProviderForm
from conversations.assistant.models import AssistantCall, AssistantProvider, AssistantSettings


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(TenantScopedAdmin):
    list_display = ["organization", "enabled", "monthly_token_budget", "redact_contact_data", "updated_at"]
    fields = ["organization", "enabled", "monthly_token_budget", "redact_contact_data"]


class ProviderAdminForm(ProviderForm):
    """The settings page's form: the key is typed, stored encrypted, and shown as its last four characters."""

    def save(self, commit=True):
        provider = super().save(commit=False)
        api_key = self.cleaned_data.get("api_key", "").strip()
        if api_key:
            provider.api_key_encrypted = crypto.encrypt(api_key)
            provider.api_key_last4 = api_key[-4:]
        if commit:
            provider.save()
        return provider

    def clean_api_key(self):
        api_key = self.cleaned_data.get("api_key", "").strip()
        if api_key and (len(api_key) < 8 or any(ch.isspace() for ch in api_key)):
            raise ValidationError(_("Paste the whole API key (no spaces)."))
        return api_key


@admin.register(AssistantProvider)
class AssistantProviderAdmin(TenantScopedAdmin):
    form = ProviderAdminForm
    list_display = ["__str__", "organization", "position", "is_active", "masked_key", "timeout_seconds"]
    list_filter = ["kind", "is_active"]
    fields = [
        "organization",
        "kind",
        "model",
        "api_key",
        "base_url",
        "position",
        "is_active",
        "timeout_seconds",
        "max_output_tokens",
        "max_input_tokens",
        "price_in",
        "price_out",
    ]

    @admin.display(description=gettext_lazy("API key"))
    def masked_key(self, obj):
        return obj.masked_key


@admin.register(AssistantCall)
class AssistantCallAdmin(TenantScopedAdmin):
    list_display = [
        "created_at",
        "feature",
        "provider_kind",
        "model",
        "outcome",
        "tokens_in",
        "tokens_out",
        "latency_ms",
    ]
    list_filter = ["feature", "provider_kind", "outcome"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
