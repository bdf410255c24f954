"""Report figures formatted for the active language: grouped numbers, percents, durations, days."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import formats
from django.utils.translation import gettext as _

register = template.Library()


def _number(value, decimals: int = 0) -> str:
    return formats.number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(n)s s") % {"n": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(n)s min") % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)s d %(h)s h") % {"d": _number(days), "h": hours}


@register.filter
def report_value(value, unit: str = "count") -> str:
    if value is None or value == "":
        return "—"
    if unit == "day" and isinstance(value, dt.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if unit == "percent":
        return f"{_number(value, 1)}\u00a0%"
    if unit == "duration":
        return format_duration(value)
    if unit == "money":
        return _number(value / 100, 2)
    if unit == "text":
        return str(value)
    return _number(value)


@register.filter
def report_change(kpi) -> str:
    """The change against the previous period, signed, in percent ("" when not comparable)."""
    change = kpi.change
    if change is None:
        return ""
    sign = "+" if change > 0 else ""
    return f"{sign}{_number(change, 1)}\u00a0%"


@register.filter
def change_class(kpi) -> str:
    change = kpi.change
    if not change:
        return "kpi-flat"
    better = change < 0 if kpi.lower_is_better else change > 0
    return "kpi-better" if better else "kpi-worse"


@register.filter
def zip_columns(row, columns):
    return list(zip(row, columns, strict=False))


@register.filter
def heat_level(value, peak) -> int:
    """0..9, for the heatmap cell's class (no inline style under the CSP)."""
    if not value or not peak:
        return 0
    return max(1, min(9, round(value / peak * 9)))


@register.simple_tag
def heat_peak(table) -> int:
    return max((max(row[1:]) for row in table.rows), default=0)
