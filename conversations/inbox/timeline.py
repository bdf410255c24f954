"""The SLA timeline of a conversation as the pane shows it: started, paused, resumed, warned, breached.

The clock's instants are columns of the conversation; pauses (snooze and wake) come from the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.models import AuditLogEntry, Organization
from conversations.models import Conversation

MAX_PAUSES = 20


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # started / paused / resumed / warned / breached / responded / due
    label: str
    upcoming: bool = False


def sla_timeline(*, organization: Organization, conversation: Conversation, now: dt.datetime) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    if conversation.sla_started_at:
        entries.append(TimelineEntry(conversation.sla_started_at, "started", _("SLA clock started")))
    pauses = (
        AuditLogEntry.objects.filter(
            organization=organization,
            content_type__app_label=Conversation._meta.app_label,
            content_type__model=Conversation._meta.model_name,
            object_id=str(conversation.pk),
            action__in=["conversation.snoozed", "conversation.woken"],
        )
        .order_by("-created_at")
        .values_list("action", "created_at", "changes", "metadata")[:MAX_PAUSES]
    )
    for action, at, changes, metadata in pauses:
        if action == "conversation.snoozed":
            until = (changes.get("snoozed_until") or [None, None])[1]
            until_at = parse_datetime(until) if until and until != "customer_reply" else None
            label = _("Paused: snoozed until the customer replies")
            if until_at is not None:
                label = _("Paused: snoozed until %(time)s") % {"time": _local(until_at, organization)}
            entries.append(TimelineEntry(at, "paused", label))
        else:
            reason = (metadata or {}).get("reason")
            label = {
                "customer": _("Resumed: the customer wrote"),
                "time": _("Resumed: the snooze ran out"),
            }.get(reason, _("Resumed by an agent"))
            entries.append(TimelineEntry(at, "resumed", label))
    if conversation.first_response_at:
        entries.append(TimelineEntry(conversation.first_response_at, "responded", _("First response sent")))
    for warned, breached, name in (
        (conversation.first_response_warned_at, conversation.first_response_breached_at, _("first response")),
        (conversation.resolution_warned_at, conversation.resolution_breached_at, _("resolution")),
    ):
        if warned:
            entries.append(TimelineEntry(warned, "warned", _("Warning: %(target)s due soon") % {"target": name}))
        if breached:
            entries.append(TimelineEntry(breached, "breached", _("Breached: %(target)s overdue") % {"target": name}))
    entries.sort(key=lambda entry: entry.at)
    upcoming = conversation.sla_next
    if upcoming is not None and upcoming.state in ("ok", "warning"):
        target = _("First response") if upcoming.kind == "first_response" else _("Resolution")
        entries.append(TimelineEntry(upcoming.due_at, "due", _("%(target)s due") % {"target": target}, upcoming=True))
    return entries


def _local(at: dt.datetime, organization: Organization) -> str:
    from django.utils import formats

    return formats.date_format(at.astimezone(organization.tzinfo), "SHORT_DATETIME_FORMAT")
