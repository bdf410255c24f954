"""What each domain happening adds to the rollups: the one definition the listeners and the rebuild share.

A ``Fact`` is an increment of one rollup cell. The functions here turn a happening (a
conversation opened, a first response, a close, a message, a delivery status moving) into facts
from plain values, so the live listeners (one event at a time) and ``rebuild_rollups`` (raw rows
in bulk) count the same things the same way.

Attribution (the cell's dimensions):
- the day is the local day (organization's time zone) of the instant the thing happened, so a
  status arriving days later counts on the day of its message, and a conversation opened at 23:50
  and closed at 00:10 is opened on one day and closed on the next;
- queue and channel are the conversation's; the agent is who did it (the responder of a first
  response, the sender of a message), or the conversation's assignee for a close or a reopen;
  conversations opened and inbound messages have no agent (nobody handled them yet).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from conversations.business_hours import Schedule, business_time_between
from conversations.reports import buckets

# Metric names. Apps above conversations add their own (scheduling: "appointments.*"); bots and CSAT
# will add "bots.sessions" (key: outcome) and "csat.responses" (key: score) the same way.
OPENED = "conversations.opened"
CLOSED = "conversations.closed"
REOPENED = "conversations.reopened"
FIRST_RESPONSE = "first_response.calendar"
FIRST_RESPONSE_BUSINESS = "first_response.business"
RESOLUTION = "resolution.calendar"
RESOLUTION_BUSINESS = "resolution.business"
SLA_FIRST_RESPONSE = "sla.first_response"  # key: met | warned | breached
SLA_RESOLUTION = "sla.resolution"
MESSAGES_IN = "messages.in"  # key: kind
MESSAGES_OUT = "messages.out"  # key: kind
MESSAGES_IN_HOUR = "messages.in.hour"  # key: local hour "00".."23" (the peak-hours heatmap)
DELIVERY = "messages.delivery"  # key: delivery status, on the day the message was sent
CONTACTS = "contacts.created"

CONVERSATION_METRICS = (
    OPENED,
    CLOSED,
    REOPENED,
    FIRST_RESPONSE,
    FIRST_RESPONSE_BUSINESS,
    RESOLUTION,
    RESOLUTION_BUSINESS,
    SLA_FIRST_RESPONSE,
    SLA_RESOLUTION,
    MESSAGES_IN,
    MESSAGES_OUT,
    MESSAGES_IN_HOUR,
    DELIVERY,
    CONTACTS,
)


@dataclass(frozen=True)
class Fact:
    organization_id: int
    day: dt.date
    metric: str
    key: str = ""
    queue_id: int = 0
    agent_id: int = 0
    channel_id: int = 0
    count: int = 1
    total: int = 0

    @property
    def cell(self) -> tuple:
        return (self.organization_id, self.metric, self.day, self.key, self.queue_id, self.agent_id, self.channel_id)


@dataclass(frozen=True)
class Dims:
    """Where a conversation's facts land: its organization, time zone, queue, channel."""

    organization_id: int
    tz: ZoneInfo
    queue_id: int = 0
    channel_id: int = 0

    def fact(self, at: dt.datetime, metric: str, key: str = "", *, agent_id: int | None = 0, count=1, total=0) -> Fact:
        return Fact(
            self.organization_id,
            at.astimezone(self.tz).date(),
            metric,
            key,
            self.queue_id,
            agent_id or 0,
            self.channel_id,
            count,
            total,
        )


def dims(*, organization_id: int, time_zone: str, queue_id: int | None, channel_id: int | None) -> Dims:
    return Dims(organization_id, ZoneInfo(time_zone), queue_id or 0, channel_id or 0)


def _seconds(start: dt.datetime, end: dt.datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def duration_facts(d: Dims, at: dt.datetime, metric: str, seconds: int, agent_id: int | None) -> list[Fact]:
    return [d.fact(at, metric, buckets.key_of(seconds), agent_id=agent_id, total=seconds)]


def opened(d: Dims, created_at: dt.datetime) -> list[Fact]:
    return [d.fact(created_at, OPENED)]


def first_response(
    d: Dims,
    *,
    created_at: dt.datetime,
    responded_at: dt.datetime,
    responder_id: int | None,
    due_at: dt.datetime | None,
    schedule: Schedule,
) -> list[Fact]:
    calendar = _seconds(created_at, responded_at)
    business = round(business_time_between(created_at, responded_at, schedule).total_seconds())
    facts = duration_facts(d, responded_at, FIRST_RESPONSE, calendar, responder_id)
    facts += duration_facts(d, responded_at, FIRST_RESPONSE_BUSINESS, business, responder_id)
    if due_at is not None and responded_at <= due_at:
        facts.append(d.fact(responded_at, SLA_FIRST_RESPONSE, "met", agent_id=responder_id))
    return facts


def closed(
    d: Dims,
    *,
    created_at: dt.datetime,
    closed_at: dt.datetime,
    agent_id: int | None,
    has_target: bool,
    breached_at: dt.datetime | None,
    schedule: Schedule,
) -> list[Fact]:
    """A close: counted, its resolution time (from the opening), and the resolution SLA met if the
    conversation had a target and no breach had been raised by then (a breach is raised once)."""
    calendar = _seconds(created_at, closed_at)
    business = round(business_time_between(created_at, closed_at, schedule).total_seconds())
    facts = [d.fact(closed_at, CLOSED, agent_id=agent_id)]
    facts += duration_facts(d, closed_at, RESOLUTION, calendar, agent_id)
    facts += duration_facts(d, closed_at, RESOLUTION_BUSINESS, business, agent_id)
    if has_target and (breached_at is None or breached_at > closed_at):
        facts.append(d.fact(closed_at, SLA_RESOLUTION, "met", agent_id=agent_id))
    return facts


def reopened(d: Dims, at: dt.datetime, agent_id: int | None) -> list[Fact]:
    return [d.fact(at, REOPENED, agent_id=agent_id)]


def sla_raised(d: Dims, at: dt.datetime, kind: str, state: str, agent_id: int | None) -> list[Fact]:
    metric = SLA_FIRST_RESPONSE if kind == "first_response" else SLA_RESOLUTION
    return [d.fact(at, metric, state, agent_id=agent_id)]


def message(
    d: Dims, *, created_at: dt.datetime, inbound: bool, kind: str, author_id: int | None, delivery_status: str
) -> list[Fact]:
    if inbound:
        local = created_at.astimezone(d.tz)
        return [d.fact(created_at, MESSAGES_IN, kind), d.fact(created_at, MESSAGES_IN_HOUR, f"{local.hour:02d}")]
    return [
        d.fact(created_at, MESSAGES_OUT, kind, agent_id=author_id),
        d.fact(created_at, DELIVERY, delivery_status, agent_id=author_id),
    ]


def delivery_moved(
    d: Dims, *, created_at: dt.datetime, author_id: int | None, previous: str, status: str
) -> list[Fact]:
    """A late status moves the message's count from one status to another on the day it was sent."""
    if previous == status:
        return []
    return [
        d.fact(created_at, DELIVERY, previous, agent_id=author_id, count=-1),
        d.fact(created_at, DELIVERY, status, agent_id=author_id),
    ]


def contact_created(*, organization_id: int, tz: ZoneInfo, created_at: dt.datetime) -> list[Fact]:
    return [Fact(organization_id, created_at.astimezone(tz).date(), CONTACTS)]
