"""SLA due times of a conversation, in the organization's business time.

The clock of both targets starts when the conversation opens (``sla_started_at``); reopening
restarts the resolution clock. Targets come from the conversation's queue; the warning falls
due at ``queue.sla_warning_percent`` of the target (default 80%). An organization without
business hours counts calendar time (see ``conversations.business_hours``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounts.models import BusinessHours, Holiday, Organization, Queue
from conversations.business_hours import Schedule, add_business_minutes


def schedule_for(organization: Organization, *, since: dt.date | None = None) -> Schedule:
    windows = BusinessHours.objects.for_organization(organization).values_list("weekday", "start", "end")
    holidays = Holiday.objects.for_organization(organization)
    if since is not None:
        holidays = holidays.filter(date__gte=since - dt.timedelta(days=1))
    return Schedule.build(
        tz=organization.time_zone, windows=list(windows), holidays=holidays.values_list("date", flat=True)
    )


@dataclass(frozen=True)
class Target:
    due_at: dt.datetime | None
    warning_at: dt.datetime | None


NO_TARGET = Target(None, None)


def target(start: dt.datetime, minutes: int | None, warning_percent: int, schedule: Schedule) -> Target:
    if not minutes:
        return NO_TARGET
    return Target(
        due_at=add_business_minutes(start, minutes, schedule),
        warning_at=add_business_minutes(start, minutes * warning_percent / 100, schedule),
    )


def first_response_target(queue: Queue | None, start: dt.datetime, schedule: Schedule) -> Target:
    if queue is None:
        return NO_TARGET
    return target(start, queue.sla_first_response_minutes, queue.sla_warning_percent, schedule)


def resolution_target(queue: Queue | None, start: dt.datetime, schedule: Schedule) -> Target:
    if queue is None:
        return NO_TARGET
    return target(start, queue.sla_resolution_minutes, queue.sla_warning_percent, schedule)


OK, WARNING, BREACHED, PAUSED = "ok", "warning", "breached", "paused"


@dataclass(frozen=True)
class NextDue:
    """The SLA target a conversation is racing now: its first response until answered, then its resolution."""

    kind: str  # "first_response" | "resolution"
    warning_at: dt.datetime | None
    due_at: dt.datetime
    state: str  # ok / warning / breached / paused (snoozed: the clock is stopped)


def next_due(conversation, now: dt.datetime) -> NextDue | None:
    """``None`` for a conversation without a running target (closed, answered and no resolution target)."""
    if not conversation.is_active:
        return None
    if conversation.first_response_at is None and conversation.first_response_due_at is not None:
        kind, warning_at, due_at = (
            "first_response",
            conversation.first_response_warning_at,
            conversation.first_response_due_at,
        )
    elif conversation.resolution_due_at is not None:
        kind, warning_at, due_at = "resolution", conversation.resolution_warning_at, conversation.resolution_due_at
    else:
        return None
    if conversation.snoozed_at is not None:
        state = PAUSED
    elif now >= due_at:
        state = BREACHED
    elif warning_at is not None and now >= warning_at:
        state = WARNING
    else:
        state = OK
    return NextDue(kind=kind, warning_at=warning_at, due_at=due_at, state=state)
