"""The wizard's forms, one per step: template → variables → audience → schedule (→ review)."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.campaigns.models import AudienceType, Segment, TagMatch
from conversations.message_templates import template_variables
from conversations.models import Channel, ChannelKind, Tag, TemplateStatus, WhatsAppTemplate

STEPS = ("template", "variables", "audience", "schedule", "review")
STEP_LABELS = {
    "template": _("Template"),
    "variables": _("Variables"),
    "audience": _("Audience"),
    "schedule": _("Schedule"),
    "review": _("Review"),
}


class TemplateStepForm(forms.Form):
    name = forms.CharField(label=_("Campaign name"), max_length=120)
    channel = forms.ModelChoiceField(label=_("WhatsApp number"), queryset=Channel.objects.none())
    template = forms.ModelChoiceField(
        label=_("Approved template"),
        queryset=WhatsAppTemplate.objects.none(),
        help_text=_("Only templates approved by Meta can be sent to an audience."),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.for_organization(organization).filter(
            kind=ChannelKind.WHATSAPP, is_active=True
        )
        self.fields["template"].queryset = WhatsAppTemplate.objects.for_organization(organization).filter(
            status=TemplateStatus.APPROVED
        )
        self.fields["template"].label_from_instance = lambda t: (
            f"{t.name} ({t.language}, {t.get_category_display()}) · {t.channel}"
        )

    def clean(self):
        data = super().clean()
        if data.get("template") and data.get("channel") and data["template"].channel_id != data["channel"].pk:
            self.add_error("template", _("This template belongs to another number."))
        return data


SOURCE_CHOICES = [
    ("contact.name", _("Contact: name")),
    ("contact.first_name", _("Contact: first name")),
    ("contact.phone", _("Contact: phone")),
    ("contact.email", _("Contact: email")),
    ("custom_field", _("Contact custom field (name it)")),
    ("value", _("Fixed text (type it)")),
]


class VariablesStepForm(forms.Form):
    """A source and a text per template variable."""

    def __init__(self, *args, template, mapping, **kwargs):
        super().__init__(*args, **kwargs)
        self.variables = template_variables(template)
        for variable in self.variables:
            spec = mapping.get(variable.ref) or {}
            source = spec.get("source", "value")
            initial_source = f"contact.{spec.get('field')}" if source == "contact" else source
            self.fields[f"src:{variable.ref}"] = forms.ChoiceField(
                label=variable.label, choices=SOURCE_CHOICES, initial=initial_source
            )
            self.fields[f"val:{variable.ref}"] = forms.CharField(
                label=_("Field or text"),
                required=False,
                max_length=500,
                initial=spec.get("value", spec.get("field", "")) if source != "contact" else "",
                help_text=_("Example: %(example)s") % {"example": variable.example} if variable.example else "",
            )

    def rows(self):
        return [(v, self[f"src:{v.ref}"], self[f"val:{v.ref}"]) for v in self.variables]

    def mapping(self) -> dict:
        result = {}
        for variable in self.variables:
            source = self.cleaned_data[f"src:{variable.ref}"]
            text = self.cleaned_data[f"val:{variable.ref}"].strip()
            if source.startswith("contact."):
                result[variable.ref] = {"source": "contact", "field": source.split(".", 1)[1]}
            elif source == "custom_field":
                result[variable.ref] = {"source": "custom_field", "field": text}
            else:
                result[variable.ref] = {"source": "value", "value": text}
        return result

    def clean(self):
        data = super().clean()
        for variable in self.variables:
            source, text = data.get(f"src:{variable.ref}"), (data.get(f"val:{variable.ref}") or "").strip()
            if source in ("custom_field", "value") and not text:
                self.add_error(f"val:{variable.ref}", _("Type the custom field's name or the fixed text."))
        return data


class AudienceStepForm(forms.Form):
    audience_type = forms.ChoiceField(label=_("Send to"), choices=AudienceType.choices, widget=forms.RadioSelect)
    audience_tags = forms.ModelMultipleChoiceField(label=_("Tags"), queryset=Tag.objects.none(), required=False)
    tag_match = forms.ChoiceField(label=_("Contacts with"), choices=TagMatch.choices, required=False)
    phones = forms.CharField(
        label=_("Custom list: phone numbers (one per line, or a CSV with the phone first)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )
    csv_file = forms.FileField(label=_("…or upload a CSV"), required=False)
    segment = forms.ModelChoiceField(label=_("Saved segment"), queryset=Segment.objects.none(), required=False)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience_tags"].queryset = Tag.objects.for_organization(organization)
        self.fields["segment"].queryset = Segment.objects.for_organization(organization)

    def clean(self):
        data = super().clean()
        kind = data.get("audience_type")
        if kind == AudienceType.TAGS and not data.get("audience_tags"):
            self.add_error("audience_tags", _("Choose at least one tag."))
        if kind == AudienceType.SEGMENT and not data.get("segment"):
            self.add_error("segment", _("Choose a segment."))
        return data


class ScheduleStepForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Start at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("In the organization's time zone. Empty: when you start it."),
    )
    messages_per_minute = forms.IntegerField(label=_("Messages per minute"), min_value=0, max_value=100_000)
    delay_seconds = forms.DecimalField(
        label=_("Delay between messages (seconds)"), min_value=0, max_value=3600, decimal_places=2
    )
    send_window_start = forms.TimeField(
        label=_("Send only from"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    send_window_end = forms.TimeField(
        label=_("until"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )

    def __init__(self, *args, organization, **kwargs):
        self.tz = organization.tzinfo
        super().__init__(*args, **kwargs)

    def clean_scheduled_at(self):
        value = self.cleaned_data.get("scheduled_at")
        if value is None:
            return None
        local = timezone.make_naive(value, timezone.get_current_timezone()) if timezone.is_aware(value) else value
        aware = local.replace(tzinfo=self.tz)
        if aware < timezone.now() - datetime.timedelta(minutes=1):
            raise forms.ValidationError(_("Choose a moment in the future."))
        return aware

    def clean(self):
        data = super().clean()
        if bool(data.get("send_window_start")) != bool(data.get("send_window_end")):
            self.add_error("send_window_end", _("Give both ends of the send window, or neither."))
        return data
