"""A month of conversations driven through the services at chosen instants (time-machine), and the
rollups computed from scratch over the raw rows they leave, independently of ``facts.py``."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.contenttypes.models import ContentType

from accounts.models import AuditLogEntry, BusinessHours
from conversations import services, sla
from conversations.business_hours import business_time_between
from conversations.models import Contact, Conversation, Message
from conversations.reports import buckets
from conversations.reports.models import DailyRollup
from tests import factories
from tests.conversations import factories as cf

TZ = "America/New_York"  # DST ends on 2026-11-01 at 02:00 (clocks fall back one hour)
MONTH_START = dt.date(2026, 10, 15)
MONTH_END = dt.date(2026, 11, 13)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute)).replace(tzinfo=ZoneInfo(TZ))


@dataclass
class World:
    org: object
    queue: object
    other_queue: object
    channel: object
    agents: list
    conversations: list[int] = field(default_factory=list)


def setup_org(slug: str = "month") -> World:
    org = factories.organization(name=f"Org {slug}", slug=slug, time_zone=TZ)
    for weekday in range(5):
        BusinessHours.objects.create(organization=org, weekday=weekday, start=dt.time(9), end=dt.time(17))
    dept = factories.department(org)
    queue = factories.queue(org, dept, sla_first_response_minutes=30, sla_resolution_minutes=240)
    other = factories.queue(org, dept, sla_first_response_minutes=60, sla_resolution_minutes=600)
    channel = cf.channel(org, kind="console", queue=queue)
    agents = [factories.member(org, email=f"agent{n}@{slug}.test") for n in range(2)]
    return World(org, queue, other, channel, agents)


def _at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def play_month(world: World, *, seed: int = 17, count: int = 36) -> None:
    """Conversations over the month: some opened before midnight and closed after it, some across the
    DST change, reopened ones, replies, delivery statuses arriving days later, SLA sweeps."""
    rng = random.Random(seed)
    actions: list[tuple[dt.datetime, int, str, dict]] = []
    days = (MONTH_END - MONTH_START).days
    for n in range(count):
        day = MONTH_START + dt.timedelta(days=rng.randrange(days - 3))
        if n % 6 == 0:
            start = local(day, 23, 40 + rng.randrange(15))  # crosses midnight
        elif n % 6 == 1:
            start = local(dt.date(2026, 10, 31), 22, rng.randrange(50))  # runs through the DST change
        else:
            start = local(day, rng.randrange(7, 22), rng.randrange(60))
        seq = n * 100
        actions.append((start, seq, "inbound", {"n": n}))
        t = start + dt.timedelta(minutes=rng.randrange(1, 90))
        actions.append((t, seq + 1, "assign", {"n": n, "agent": n % 2}))
        if n % 5 != 4:  # a few never get an answer
            t += dt.timedelta(minutes=rng.randrange(1, 120))
            actions.append((t, seq + 2, "reply", {"n": n}))
            actions.append(
                (
                    t + dt.timedelta(days=rng.choice([0, 0, 2, 5]), minutes=3),
                    seq + 3,
                    "status",
                    {"n": n, "status": "delivered"},
                )
            )
            if n % 3 == 0:
                actions.append((t + dt.timedelta(days=3, minutes=9), seq + 4, "status", {"n": n, "status": "read"}))
            if n % 7 == 3:
                actions.append((t + dt.timedelta(minutes=5), seq + 4, "status", {"n": n, "status": "failed"}))
        t += dt.timedelta(minutes=rng.randrange(10, 600))
        actions.append((t, seq + 5, "inbound", {"n": n}))
        if n % 4 != 3:
            t += dt.timedelta(minutes=rng.randrange(5, 300))
            actions.append((t, seq + 6, "close", {"n": n}))
            if n % 4 == 0:
                t += dt.timedelta(hours=rng.randrange(2, 40))
                actions.append((t, seq + 7, "reopen", {"n": n}))
                t += dt.timedelta(minutes=rng.randrange(5, 200))
                actions.append((t, seq + 8, "close", {"n": n}))
    for hours in range(0, days * 24, 7):  # the SLA sweep, as Beat runs it
        actions.append((local(MONTH_START, 0) + dt.timedelta(hours=hours), 10**9, "sweep", {}))
    actions.sort(key=lambda a: (a[0], a[1]))

    phones = {n: f"+1212555{n:04d}" for n in range(count)}
    by_n: dict[int, int] = {}
    replies: dict[int, int] = {}
    for moment, _seq, action, args in actions:
        with _at(moment):
            n = args.get("n")
            if action == "inbound":
                result = services.inbound_message_receive(channel=world.channel, phone=phones[n], body=f"hi {n}")
                by_n[n] = result.message.conversation_id
            elif action == "assign":
                conversation = Conversation.objects.get(pk=by_n[n])
                if conversation.assignee_id is None and conversation.is_active:
                    services.conversation_assign(conversation=conversation, membership=world.agents[args["agent"]])
            elif action == "reply":
                conversation = Conversation.objects.get(pk=by_n[n])
                if conversation.is_active:
                    author = conversation.assignee or world.agents[0]
                    message = services.message_send(conversation=conversation, author=author, body="hello")
                    # The provider's id, as the outbox records it when the send succeeds.
                    Message.objects.filter(pk=message.pk).update(provider_message_id=f"wamid.{message.pk}")
                    services.message_status_update(
                        organization=world.org, provider_message_id=f"wamid.{message.pk}", status="sent"
                    )
                    replies[n] = message.pk
            elif action == "status":
                if n in replies:
                    services.message_status_update(
                        organization=world.org, provider_message_id=f"wamid.{replies[n]}", status=args["status"]
                    )
            elif action == "close":
                conversation = Conversation.objects.get(pk=by_n[n])
                if conversation.is_active:
                    services.conversation_close(conversation=conversation)
            elif action == "reopen":
                conversation = Conversation.objects.get(pk=by_n[n])
                if not conversation.is_active:
                    services.conversation_reopen(conversation=conversation)
            elif action == "sweep":
                services.sla_sweep()
    world.conversations = sorted(set(by_n.values()))


def stored(org) -> dict[tuple, tuple[int, int]]:
    return {
        (r.metric, r.day, r.key, r.queue_id, r.agent_id, r.channel_id): (r.count, r.total)
        for r in DailyRollup.objects.filter(organization=org)
        if r.count or r.total
    }


def from_scratch(org) -> dict[tuple, tuple[int, int]]:
    """Every rollup cell recomputed in plain Python over the raw rows of ``org``."""
    tz = ZoneInfo(org.time_zone)
    schedule = sla.schedule_for(org)
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])

    def add(metric, at, key="", queue=0, agent=0, channel=0, total=0):
        cell = cells[(metric, at.astimezone(tz).date(), key, queue or 0, agent or 0, channel or 0)]
        cell[0] += 1
        cell[1] += total

    def hist(prefix, at, start, end, queue, agent, channel):
        calendar = max(0, round((end - start).total_seconds()))
        business = round(business_time_between(start, end, schedule).total_seconds())
        add(f"{prefix}.calendar", at, buckets.key_of(calendar), queue, agent, channel, calendar)
        add(f"{prefix}.business", at, buckets.key_of(business), queue, agent, channel, business)

    conversations = {c.pk: c for c in Conversation.objects.filter(organization=org).select_related("assignee")}
    messages = list(Message.objects.filter(organization=org).order_by("created_at", "pk"))
    first_agent_reply = {}
    for m in messages:
        if m.is_internal_note:
            continue
        c = conversations[m.conversation_id]
        if m.direction == "inbound":
            add("messages.in", m.created_at, m.kind, c.queue_id, 0, c.channel_id)
            add(
                "messages.in.hour", m.created_at, f"{m.created_at.astimezone(tz).hour:02d}", c.queue_id, 0, c.channel_id
            )
        else:
            add("messages.out", m.created_at, m.kind, c.queue_id, m.author_id, c.channel_id)
            add("messages.delivery", m.created_at, m.delivery_status, c.queue_id, m.author_id, c.channel_id)
            if m.author_type == "agent":
                first_agent_reply.setdefault(c.pk, m)
    for c in conversations.values():
        add("conversations.opened", c.created_at, "", c.queue_id, 0, c.channel_id)
        agent = c.assignee.user_id if c.assignee_id else 0
        if c.first_response_at:
            responder = first_agent_reply[c.pk].author_id
            hist(
                "first_response",
                c.first_response_at,
                c.created_at,
                c.first_response_at,
                c.queue_id,
                responder,
                c.channel_id,
            )
            if c.first_response_due_at and c.first_response_at <= c.first_response_due_at:
                add("sla.first_response", c.first_response_at, "met", c.queue_id, responder, c.channel_id)
        for kind in ("first_response", "resolution"):
            for state in ("warned", "breached"):
                at = getattr(c, f"{kind}_{state}_at")
                if at:
                    add(f"sla.{kind}", at, state, c.queue_id, agent, c.channel_id)
    entries = AuditLogEntry.objects.filter(
        organization=org,
        content_type=ContentType.objects.get_for_model(Conversation),
        action__in=["conversation.closed", "conversation.reopened"],
    )
    for entry in entries:
        c = conversations[int(entry.object_id)]
        agent = c.assignee.user_id if c.assignee_id else 0
        if entry.action == "conversation.reopened":
            add("conversations.reopened", entry.created_at, "", c.queue_id, agent, c.channel_id)
            continue
        at = (
            c.closed_at
            if c.closed_at and abs((c.closed_at - entry.created_at).total_seconds()) < 1
            else entry.created_at
        )
        add("conversations.closed", at, "", c.queue_id, agent, c.channel_id)
        hist("resolution", at, c.created_at, at, c.queue_id, agent, c.channel_id)
        if c.resolution_due_at and (c.resolution_breached_at is None or c.resolution_breached_at > at):
            add("sla.resolution", at, "met", c.queue_id, agent, c.channel_id)
    for contact in Contact.objects.filter(organization=org):
        add("contacts.created", contact.created_at)
    return {key: tuple(value) for key, value in cells.items()}
