"""The preferences form: typed channel fields plus one checkbox per configurable event type (registry)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from notifications.models import NotificationPreference
from notifications.registry import configurable_event_types

EVENT_PREFIX = "event_"
# The inbox tab's signals for new work (personal: not copied from the organization's defaults).
SIGNAL_FIELDS = ("desktop_new_message", "desktop_assignment", "title_counter", "sound")


LIMIT_ERRORS = {
    "min_value": _("Choose a number from 1 to 100."),
    "max_value": _("Choose a number from 1 to 100."),
    "invalid": _("Choose a number from 1 to 100."),
    "required": _("Choose a number from 1 to 100."),
}


class PreferenceForm(forms.ModelForm):
    """Parses and validates the page's input; ``services.preference_update`` saves it."""

    max_emails_per_hour = forms.IntegerField(
        label=_("max emails per hour"), min_value=1, max_value=100, error_messages=LIMIT_ERRORS
    )
    max_sms_per_hour = forms.IntegerField(
        label=_("max SMS per hour"), min_value=1, max_value=100, error_messages=LIMIT_ERRORS
    )

    class Meta:
        model = NotificationPreference
        fields = [
            "email_enabled",
            "sms_enabled",
            "whatsapp_enabled",
            "websocket_enabled",
            "in_app_enabled",
            "phone_number",
            "quiet_hours_enabled",
            "quiet_hours_start",
            "quiet_hours_end",
            "max_emails_per_hour",
            "max_sms_per_hour",
            *SIGNAL_FIELDS,
        ]
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        error_messages = {
            "quiet_hours_start": {
                "invalid": _("Enter a valid time, e.g. 22:00."),
                "required": _("Enter a valid time, e.g. 22:00."),
            },
            "quiet_hours_end": {
                "invalid": _("Enter a valid time, e.g. 08:00."),
                "required": _("Enter a valid time, e.g. 08:00."),
            },
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for event in configurable_event_types():
            self.fields[EVENT_PREFIX + event.name] = forms.BooleanField(
                label=event.label, required=False, initial=self.instance.event_enabled(event)
            )

    def event_fields(self):
        return [self[EVENT_PREFIX + e.name] for e in configurable_event_types()]

    def channel_fields(self):
        return [
            self[name]
            for name in ("email_enabled", "sms_enabled", "whatsapp_enabled", "websocket_enabled", "in_app_enabled")
        ]

    def signal_fields(self):
        return [self[name] for name in SIGNAL_FIELDS]

    def quiet_fields(self):
        return [self["quiet_hours_start"], self["quiet_hours_end"]]

    def limit_fields(self):
        return [self["max_emails_per_hour"], self["max_sms_per_hour"]]

    def changes(self) -> dict:
        """The values for ``services.preference_update`` (the form only parses; the service saves)."""
        values = {name: self.cleaned_data[name] for name in self.Meta.fields}
        values["event_types"] = {e.name: self.cleaned_data[EVENT_PREFIX + e.name] for e in configurable_event_types()}
        return values

    def add_service_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)
