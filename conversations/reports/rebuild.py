"""The conversations' rollups computed from scratch over the raw rows, for ``rebuild_rollups``.

Sources: conversations (opening, first response, SLA warnings and breaches raised), the audit log
(every close and reopen — a conversation closed twice has two), messages (by kind, direction,
sender and current delivery status), contacts. The facts are those of ``facts.py``, the same the
listeners add one event at a time.

Known difference with the live counts: a fact is attributed to the conversation's queue and
assignee as they are *now*, where the listener used them as they were at the time; they differ
only for a conversation transferred after the fact (the live count is the right one then).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import ExtractHour, TruncDate

from accounts.models import AuditLogEntry, Organization
from conversations import sla
from conversations.models import AuthorType, Contact, Conversation, Direction, Message
from conversations.reports import facts
from conversations.reports.registry import Rebuilder

CHUNK = 5000


def local_bounds(tz: ZoneInfo, day_from: dt.date, day_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of local midnight starting ``day_from`` and ending ``day_to``."""
    start = dt.datetime.combine(day_from, dt.time()).replace(tzinfo=tz)
    end = dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time()).replace(tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def first_responder_subquery():
    """The author of a conversation's first agent reply (internal notes are not replies)."""
    return Subquery(
        Message.objects.filter(
            conversation=OuterRef("pk"),
            direction=Direction.OUTBOUND,
            author_type=AuthorType.AGENT,
            is_internal_note=False,
        )
        .order_by("created_at", "pk")
        .values("author_id")[:1]
    )


def _dims(organization: Organization, queue_id, channel_id) -> facts.Dims:
    return facts.dims(
        organization_id=organization.pk, time_zone=organization.time_zone, queue_id=queue_id, channel_id=channel_id
    )


def conversation_facts(organization: Organization, day_from: dt.date, day_to: dt.date) -> Iterator[facts.Fact]:
    tz = ZoneInfo(organization.time_zone)
    start, end = local_bounds(tz, day_from, day_to)
    schedule = sla.schedule_for(organization)
    conversations = Conversation.objects.filter(organization=organization)

    for created_at, queue_id, channel_id in (
        conversations.filter(created_at__gte=start, created_at__lt=end)
        .values_list("created_at", "queue_id", "channel_id")
        .iterator(chunk_size=CHUNK)
    ):
        yield from facts.opened(_dims(organization, queue_id, channel_id), created_at)

    responded = (
        conversations.filter(first_response_at__gte=start, first_response_at__lt=end)
        .annotate(responder=first_responder_subquery())
        .values_list("created_at", "first_response_at", "first_response_due_at", "responder", "queue_id", "channel_id")
    )
    for created_at, responded_at, due_at, responder, queue_id, channel_id in responded.iterator(chunk_size=CHUNK):
        yield from facts.first_response(
            _dims(organization, queue_id, channel_id),
            created_at=created_at,
            responded_at=responded_at,
            responder_id=responder,
            due_at=due_at,
            schedule=schedule,
        )

    for kind, warned, breached in (
        ("first_response", "first_response_warned_at", "first_response_breached_at"),
        ("resolution", "resolution_warned_at", "resolution_breached_at"),
    ):
        for state, field in (("warned", warned), ("breached", breached)):
            for at, queue_id, channel_id, agent_id in (
                conversations.filter(**{f"{field}__gte": start, f"{field}__lt": end})
                .values_list(field, "queue_id", "channel_id", "assignee__user_id")
                .iterator(chunk_size=CHUNK)
            ):
                yield from facts.sla_raised(_dims(organization, queue_id, channel_id), at, kind, state, agent_id)

    yield from _closes_and_reopens(organization, start, end, schedule)
    yield from message_facts(organization, start, end)

    for day, count in (
        Contact.objects.filter(organization=organization, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    ):
        yield facts.Fact(organization.pk, day, facts.CONTACTS, count=count)


def _closes_and_reopens(organization: Organization, start, end, schedule) -> Iterator[facts.Fact]:
    entries = list(
        AuditLogEntry.objects.filter(
            organization=organization,
            content_type=ContentType.objects.get_for_model(Conversation),
            action__in=("conversation.closed", "conversation.reopened"),
            created_at__gte=start,
            created_at__lt=end,
        ).values_list("action", "object_id", "created_at")
    )
    ids = {int(object_id) for _action, object_id, _at in entries}
    rows = {
        row["pk"]: row
        for row in Conversation.objects.filter(organization=organization, pk__in=ids).values(
            "pk",
            "created_at",
            "closed_at",
            "queue_id",
            "channel_id",
            "resolution_due_at",
            "resolution_breached_at",
            agent_id=F("assignee__user_id"),
        )  # fmt: skip
    }
    for action, object_id, at in entries:
        row = rows.get(int(object_id))
        if row is None:
            continue
        d = _dims(organization, row["queue_id"], row["channel_id"])
        if action == "conversation.reopened":
            yield from facts.reopened(d, at, row["agent_id"])
            continue
        # The close the conversation is still in carries its exact time; earlier ones the audit's.
        if row["closed_at"] is not None and abs((row["closed_at"] - at).total_seconds()) < 1:
            at = row["closed_at"]
        yield from facts.closed(
            d,
            created_at=row["created_at"],
            closed_at=at,
            agent_id=row["agent_id"],
            has_target=row["resolution_due_at"] is not None,
            breached_at=row["resolution_breached_at"],
            schedule=schedule,
        )


def message_facts(organization: Organization, start, end) -> Iterator[facts.Fact]:
    """Messages grouped in the database (a day can hold hundreds of thousands)."""
    tz = ZoneInfo(organization.time_zone)
    grouped = (
        Message.objects.filter(organization=organization, created_at__gte=start, created_at__lt=end)
        .exclude(is_internal_note=True)
        .annotate(
            day=TruncDate("created_at", tzinfo=tz),
            hour=ExtractHour("created_at", tzinfo=tz),
            queue_id=F("conversation__queue_id"),
            channel_id=F("conversation__channel_id"),
        )
        .values("day", "hour", "direction", "kind", "author_id", "delivery_status", "queue_id", "channel_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in grouped.iterator(chunk_size=CHUNK):
        base = facts.Fact(
            organization.pk, row["day"], "", "", row["queue_id"] or 0, 0, row["channel_id"] or 0, row["n"]
        )
        if row["direction"] == Direction.INBOUND:
            yield _with(base, facts.MESSAGES_IN, row["kind"])
            yield _with(base, facts.MESSAGES_IN_HOUR, f"{row['hour']:02d}")
        else:
            agent = row["author_id"] or 0
            yield _with(base, facts.MESSAGES_OUT, row["kind"], agent)
            yield _with(base, facts.DELIVERY, row["delivery_status"], agent)


def _with(base: facts.Fact, metric: str, key: str, agent_id: int = 0) -> facts.Fact:
    return facts.Fact(
        base.organization_id, base.day, metric, key, base.queue_id, agent_id, base.channel_id, base.count, base.total
    )


REBUILDERS = [Rebuilder(metrics=facts.CONVERSATION_METRICS, facts=conversation_facts)]
