"""The AI settings page's forms. The API key field never shows a stored key (only its last four characters)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.assistant.models import AssistantProvider, AssistantSettings


class SettingsForm(forms.ModelForm):
    class Meta:
        model = AssistantSettings
        fields = ["enabled", "monthly_token_budget", "redact_contact_data"]


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(
        label=_("base URL"),
        required=False,
        assume_scheme="https",
        max_length=200,
        help_text=_("Only for a compatible gateway; empty uses the provider's own API."),
    )
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = AssistantProvider
        fields = [
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.pk and self.instance.api_key_last4
        self.fields["api_key"].required = not stored
        self.fields["api_key"].help_text = (
            _("Stored key ends with …%(last4)s. Leave empty to keep it.") % {"last4": self.instance.api_key_last4}
            if stored
            else _("Shown once: after saving only its last four characters are displayed.")
        )

    def provider_fields(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name != "api_key"}
