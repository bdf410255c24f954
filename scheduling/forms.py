"""Forms of the public booking page and the manage link (validation only; services do the work)."""

from __future__ import annotations

import datetime
import time

from django import forms
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from conversations.models import normalize_phone
from scheduling import dates

FILL_SALT = "scheduling.booking.form-started"


def form_started_token() -> str:
    """A signed timestamp put in the form when it is shown: a bot posting at once is refused."""
    return signing.TimestampSigner(salt=FILL_SALT).sign(str(int(time.time())))


def min_fill_seconds() -> float:
    return settings.SCHEDULING_BOOKING_MIN_FILL_SECONDS


class SlotField(forms.CharField):
    """An ISO 8601 instant with an offset."""

    def to_python(self, value):
        value = super().to_python(value)
        try:
            return dates.parse_instant(value)
        except ValidationError:
            raise ValidationError(_("Choose a time from the list."), code="invalid_slot") from None


class BookingForm(forms.Form):
    service = forms.IntegerField(widget=forms.HiddenInput)
    provider = forms.IntegerField(widget=forms.HiddenInput, required=False)
    start = SlotField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Your name"), max_length=150)
    phone = forms.CharField(
        label=_("Mobile phone (WhatsApp)"),
        max_length=32,
        help_text=_("International format, e.g. +55 11 98765-4321."),
    )
    email = forms.EmailField(label=_("Email"), help_text=_("We send the confirmation and your manage link here."))
    notes = forms.CharField(
        label=_("Notes (optional)"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Spam guards: a field people never see (bots fill it) and when the form was shown.
    website = forms.CharField(label=_("Leave this field empty"), required=False)
    started = forms.CharField(widget=forms.HiddenInput)

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"])

    def clean_website(self):
        if self.cleaned_data.get("website"):
            raise ValidationError(_("This booking looks automated and was refused."), code="spam")
        return ""

    def clean_started(self):
        try:
            value = signing.TimestampSigner(salt=FILL_SALT).unsign(
                self.cleaned_data["started"], max_age=datetime.timedelta(hours=6)
            )
        except signing.SignatureExpired:
            raise ValidationError(_("This form is too old. Please choose your time again."), code="expired") from None
        except signing.BadSignature:
            raise ValidationError(_("This form was altered. Please start again."), code="tampered") from None
        if time.time() - int(value) < min_fill_seconds():
            raise ValidationError(
                _("That was very fast. Please check your details and send the form again."), code="too_fast"
            )
        return value


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason (optional)"), required=False, max_length=255)


class RescheduleForm(forms.Form):
    start = SlotField(widget=forms.HiddenInput)
    provider = forms.IntegerField(widget=forms.HiddenInput, required=False)
