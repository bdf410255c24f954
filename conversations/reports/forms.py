"""The period picker and filters of every report page, validated into a ``ReportQuery``."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Membership, Queue
from accounts.roles import ACTING_ROLES
from conversations.models import Channel
from conversations.reports.selectors import Period, ReportQuery, queue_ids_of_department

EARLIEST = dt.date(2000, 1, 1)
MAX_DAYS = 731  # two years of daily rows

PRESETS = (
    ("today", _("Today")),
    ("yesterday", _("Yesterday")),
    ("7d", _("Last 7 days")),
    ("30d", _("Last 30 days")),
    ("90d", _("Last 90 days")),
    ("month", _("This month")),
    ("last_month", _("Last month")),
    ("custom", _("Custom")),
)


def preset_period(preset: str, today: dt.date) -> Period:
    if preset == "yesterday":
        day = today - dt.timedelta(days=1)
        return Period(day, day)
    if preset in ("7d", "30d", "90d"):
        return Period(today - dt.timedelta(days=int(preset[:-1]) - 1), today)
    if preset == "month":
        return Period(today.replace(day=1), today)
    if preset == "last_month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return Period(end.replace(day=1), end)
    return Period(today, today)


class ReportFilterForm(forms.Form):
    preset = forms.ChoiceField(label=_("Period"), choices=PRESETS, required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    queue = forms.TypedChoiceField(label=_("Queue"), coerce=int, required=False, empty_value=None)
    department = forms.TypedChoiceField(label=_("Department"), coerce=int, required=False, empty_value=None)
    agent = forms.TypedChoiceField(label=_("Agent"), coerce=int, required=False, empty_value=None)
    channel = forms.TypedChoiceField(label=_("Channel"), coerce=int, required=False, empty_value=None)

    def __init__(self, data, *, organization, own_agent_id: int | None = None, default_preset: str = "30d"):
        data = data.copy()
        if not data.get("preset"):
            data["preset"] = "custom" if data.get("date_from") or data.get("date_to") else default_preset
        super().__init__(data)
        self.organization, self.own_agent_id = organization, own_agent_id
        self.today = timezone.now().astimezone(organization.tzinfo).date()
        everyone = [("", _("All"))]
        self.fields["queue"].choices = everyone + list(
            Queue.objects.filter(organization=organization).order_by("name").values_list("pk", "name")
        )
        self.fields["department"].choices = everyone + list(
            Department.objects.filter(organization=organization).order_by("name").values_list("pk", "name")
        )
        self.fields["channel"].choices = everyone + list(
            Channel.objects.filter(organization=organization).order_by("name").values_list("pk", "name")
        )
        agents = Membership.objects.filter(organization=organization, role__in=ACTING_ROLES).select_related("user")
        self.fields["agent"].choices = everyone + sorted(
            ((m.user_id, m.user.get_full_name() or m.user.email) for m in agents), key=lambda c: str(c[1]).lower()
        )
        if own_agent_id is not None:
            del self.fields["agent"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("preset") == "custom":
            day_from, day_to = data.get("date_from"), data.get("date_to")
            if day_from is None or day_to is None:
                raise forms.ValidationError(_("A custom period needs both a start and an end date."), code="dates")
            latest = self.today + dt.timedelta(days=366)
            for day in (day_from, day_to):
                if not EARLIEST <= day <= latest:
                    raise forms.ValidationError(
                        _("Dates must be between %(earliest)s and %(latest)s.")
                        % {"earliest": EARLIEST.isoformat(), "latest": latest.isoformat()},
                        code="range",
                    )
            if day_from > day_to:
                raise forms.ValidationError(_("The start date is after the end date."), code="order")
            if (day_to - day_from).days + 1 > MAX_DAYS:
                raise forms.ValidationError(
                    _("A period can cover at most %(days)d days.") % {"days": MAX_DAYS}, code="too_long"
                )
            data["period"] = Period(day_from, day_to)
        else:
            data["period"] = preset_period(data.get("preset") or "30d", self.today)
        return data

    def query(self) -> ReportQuery:
        data = self.cleaned_data
        queue_ids = None
        if data.get("department"):
            queue_ids = queue_ids_of_department(self.organization, data["department"])
        if data.get("queue"):
            queue_ids = tuple(q for q in (queue_ids or (data["queue"],)) if q == data["queue"])
        return ReportQuery(
            organization=self.organization,
            period=data["period"],
            queue_ids=queue_ids,
            agent_id=data.get("agent"),
            channel_id=data.get("channel"),
            own_agent_id=self.own_agent_id,
        )
