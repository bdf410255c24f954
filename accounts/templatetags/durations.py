from datetime import timedelta

from django import template
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def duration(value):
    """A timedelta as "15 minutes" / "2 hours" (rounded up to whole minutes)."""
    if not isinstance(value, timedelta):
        return ""
    minutes = max(1, int((value.total_seconds() + 59) // 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
