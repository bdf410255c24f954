"""Reads of the agent inbox, shared by its views and its websocket consumer.

Every function takes the organization first. ``conversation_get_for_member`` is the one
permission check for a single conversation: views and the consumer both call it, and it
answers ``None`` alike for a conversation that does not exist, that belongs to another
organization, or that the member may not act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import JSONObject
from django.utils import timezone

from accounts.models import Department, Membership, Organization, Queue
from accounts.roles import ACTING_ROLES, Role
from conversations.inbox.realtime import Viewer
from conversations.models import (
    ACTIVE_STATUSES,
    CannedResponse,
    Contact,
    Conversation,
    Message,
    Priority,
    Status,
    Tag,
)
from conversations.selectors import contact_search_arms

PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 30
PAST_CONVERSATIONS = 5
SEARCH_MAX_LENGTH = 100

VIEWS = ("all", "mine", "unassigned")

# A list item's labels, in the list's one query (a prefetch would be a second one, skipped on an empty page).
LABEL_LIST = ArraySubquery(
    Tag.objects.filter(conversations=OuterRef("pk"))
    .order_by("name")
    .values(json=JSONObject(name="name", color="color"))
)
STATUS_FILTERS = ("active", "open", "pending", "snoozed", "closed")
SLA_FILTERS = ("soon",)


@dataclass(frozen=True)
class InboxFilters:
    """The list's state, as carried in the URL (``?view=mine&status=open&q=…&page=2&c=12``)."""

    view: str = "all"
    status: str = "active"
    queue_id: int | None = None
    department_id: int | None = None
    priority: str = ""
    q: str = ""
    page: int = 1
    label_id: int | None = None
    sla: str = ""

    @classmethod
    def from_query(cls, data) -> InboxFilters:
        """Parse query parameters; anything unknown or malformed falls back to the default."""

        def positive_int(name):
            try:
                value = int(data.get(name, ""))
            except (TypeError, ValueError):
                return None
            return value if value > 0 else None

        view = data.get("view", "all")
        status = data.get("status", "active")
        priority = data.get("priority", "")
        sla_filter = data.get("sla", "")
        return cls(
            view=view if view in VIEWS else "all",
            status=status if status in STATUS_FILTERS else "active",
            queue_id=positive_int("queue"),
            department_id=positive_int("department"),
            priority=priority if priority in Priority.values else "",
            q=" ".join(str(data.get("q", "")).split())[:SEARCH_MAX_LENGTH],
            page=min(positive_int("page") or 1, 10_000),
            label_id=positive_int("label"),
            sla=sla_filter if sla_filter in SLA_FILTERS else "",
        )

    def as_query(self, **changes) -> dict[str, str]:
        """The non-default values as query parameters (for links that keep the state)."""
        state = replace(self, **changes) if changes else self
        params = {
            "view": state.view if state.view != "all" else "",
            "status": state.status if state.status != "active" else "",
            "queue": str(state.queue_id or ""),
            "department": str(state.department_id or ""),
            "priority": state.priority,
            "q": state.q,
            "page": str(state.page) if state.page > 1 else "",
            "label": str(state.label_id or ""),
            "sla": state.sla,
        }
        return {key: value for key, value in params.items() if value}


def can_act(membership: Membership | None) -> bool:
    return membership is not None and membership.role in ACTING_ROLES


def _status_q(status: str) -> Q:
    """Snoozed conversations leave the active tabs until they wake (they have their own)."""
    if status == "active":
        return Q(status__in=ACTIVE_STATUSES, snoozed_at__isnull=True)
    if status == "snoozed":
        return Q(status__in=ACTIVE_STATUSES, snoozed_at__isnull=False)
    if status == "closed":
        return Q(status__in=(Status.CLOSED, Status.ARCHIVED))
    return Q(status=status, snoozed_at__isnull=True)


def breaching_soon_q(now) -> Q:
    """Awake, active, past the warning share of the target it races now, not yet due."""
    first_response = Q(
        first_response_at__isnull=True,
        first_response_warning_at__lte=now,
        first_response_due_at__gt=now,
    )
    resolution = Q(resolution_warning_at__lte=now, resolution_due_at__gt=now) & (
        Q(first_response_at__isnull=False) | Q(first_response_due_at__isnull=True)
    )
    return Q(status__in=ACTIVE_STATUSES, snoozed_at__isnull=True) & (first_response | resolution)


def inbox_conversations(
    *, organization: Organization, membership: Membership | None, filters: InboxFilters
) -> QuerySet[Conversation]:
    """The filtered, ordered conversations of the list (not yet sliced into a page)."""
    conversations = Conversation.objects.for_organization(organization).filter(_status_q(filters.status))
    if filters.view == "mine":
        conversations = conversations.filter(assignee=membership) if membership is not None else conversations.none()
    elif filters.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True)
    if filters.queue_id:
        conversations = conversations.filter(queue_id=filters.queue_id)
    if filters.department_id:
        conversations = conversations.filter(queue__department_id=filters.department_id)
    if filters.priority:
        conversations = conversations.filter(priority=filters.priority)
    if filters.label_id:
        conversations = conversations.filter(labels=filters.label_id)
    if filters.sla == "soon":
        conversations = conversations.filter(breaching_soon_q(timezone.now()))
    if filters.q:
        conversations = conversations.filter(_search(organization, filters.q))
    return conversations.order_by("-last_message_at", "-id")


SEARCH_MATCHES = 1000


def _search(organization: Organization, q: str) -> Q:
    """Conversations whose messages match ``q`` (full-text, Portuguese or English stems), or whose
    contact's name has words starting with its words, or whose phone starts or ends with its digits.

    One query finds the matches, each part from its own index (``conv_message_search``,
    ``conv_contact_search``, the phone prefix and suffix indexes), the newest ``SEARCH_MATCHES`` of
    each; the list then reads those rows by primary key. Cost grows with the matches, not the
    organization. (In one statement PostgreSQL misjudges how few rows a text search matches and
    scans every conversation of the organization instead.)
    """
    text = SearchQuery(q, config="portuguese") | SearchQuery(q, config="english")
    arms = [
        # Newest first by a column no index is ordered by: a sort of the matches, not a walk of the table.
        Message.objects.filter(organization=organization, search_vector=text)
        .order_by("-created_at")
        .annotate(found=Value("conversation"))
        .values_list("conversation_id", "found")[:SEARCH_MATCHES]
    ]
    contacts = Contact.objects.filter(organization=organization).order_by("-last_message_at")
    arms.extend(contact_search_arms(contacts, q))
    arms[1:] = [arm.annotate(found=Value("contact")).values_list("pk", "found")[:SEARCH_MATCHES] for arm in arms[1:]]
    rows = list(arms[0].union(*arms[1:], all=True)) if len(arms) > 1 else list(arms[0])
    conversation_ids = {pk for pk, kind in rows if kind == "conversation"}
    contact_ids = {pk for pk, kind in rows if kind == "contact"}
    return Q(pk__in=sorted(conversation_ids)) | Q(contact_id__in=sorted(contact_ids))


@dataclass
class InboxPage:
    conversations: list[Conversation]
    page: int
    has_next: bool
    has_previous: bool


def inbox_page(*, organization: Organization, membership: Membership | None, filters: InboxFilters) -> InboxPage:
    """One page of the list in one query: the last message's text comes as a subquery."""
    last_message = Message.objects.filter(conversation=OuterRef("pk"), is_internal_note=False).order_by(
        "-created_at", "-id"
    )
    start = (filters.page - 1) * PAGE_SIZE
    rows = list(
        inbox_conversations(organization=organization, membership=membership, filters=filters)
        .select_related("contact", "queue", "assignee__user")
        .annotate(
            label_list=LABEL_LIST,
            preview=Subquery(last_message.values("body")[:1]),
            preview_direction=Subquery(last_message.values("direction")[:1]),
        )[start : start + PAGE_SIZE + 1]
    )
    return InboxPage(
        conversations=rows[:PAGE_SIZE], page=filters.page, has_next=len(rows) > PAGE_SIZE, has_previous=filters.page > 1
    )


COUNT_CAP = 1000

COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE organization_id = %(org)s
     AND status = ANY(%(active)s) AND snoozed_at IS NULL LIMIT %(cap)s) c) AS all_,
  (SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE assignee_id = %(membership)s
     AND organization_id = %(org)s AND status = ANY(%(active)s) AND snoozed_at IS NULL LIMIT %(cap)s) c) AS mine,
  (SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE organization_id = %(org)s AND assignee_id IS NULL
     AND status = ANY(%(active)s) AND snoozed_at IS NULL LIMIT %(cap)s) c) AS unassigned,
  (SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE organization_id = %(org)s
     AND status = %(open)s AND snoozed_at IS NULL LIMIT %(cap)s) c) AS open,
  (SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE organization_id = %(org)s
     AND status = %(pending)s AND snoozed_at IS NULL LIMIT %(cap)s) c) AS pending,
  (SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE organization_id = %(org)s
     AND status = ANY(%(active)s) AND snoozed_at IS NOT NULL LIMIT %(cap)s) c) AS snoozed,
  (SELECT coalesce(json_object_agg(queue.id, (
      SELECT count(*) FROM (SELECT 1 FROM {conversation} WHERE queue_id = queue.id
        AND status = ANY(%(active)s) AND snoozed_at IS NULL LIMIT %(cap)s) c)), '{{}}')
   FROM {queue} queue WHERE queue.organization_id = %(org)s AND queue.is_active) AS queues
"""


def inbox_counts(*, organization: Organization, membership: Membership | None) -> dict:
    """Counts for the filter tabs and the queue menu, in one query that reads at most ``COUNT_CAP + 1``
    index entries per count, whatever the organization's size (like a mail client's "1000+").

    Returns ``all``, ``mine``, ``unassigned``, ``open``, ``pending`` and ``queues`` (queue id →
    active count); a count above ``COUNT_CAP`` is ``COUNT_CAP + 1`` (shown as "1000+").
    """
    sql = COUNTS_SQL.format(conversation=Conversation._meta.db_table, queue=Queue._meta.db_table)
    params = {
        "org": organization.pk,
        "membership": membership.pk if membership is not None else None,
        "active": [status.value for status in ACTIVE_STATUSES],
        "open": Status.OPEN.value,
        "pending": Status.PENDING.value,
        "cap": COUNT_CAP + 1,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        all_, mine, unassigned, open_, pending, snoozed, queues = cursor.fetchone()
    if isinstance(queues, str):
        queues = json.loads(queues)
    return {
        "all": all_,
        "mine": mine,
        "unassigned": unassigned,
        Status.OPEN.value: open_,
        Status.PENDING.value: pending,
        "snoozed": snoozed,
        "queues": {int(queue_id): count for queue_id, count in queues.items()},
    }


def queue_choices(*, organization: Organization) -> list[Queue]:
    """The organization's active queues with their department."""
    return list(
        Queue.objects.for_organization(organization)
        .filter(is_active=True)
        .select_related("department")
        .order_by("department__name", "name")
    )


def department_choices(*, organization: Organization) -> list[Department]:
    return list(Department.objects.for_organization(organization).filter(is_active=True).order_by("name"))


def agent_choices(*, organization: Organization) -> list[Membership]:
    """Members who may take conversations, with their presence, for assign/transfer and the team strip."""
    return list(
        Membership.objects.for_organization(organization)
        .filter(role__in=ACTING_ROLES, user__is_active=True)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def conversation_get_for_member(
    *, organization: Organization, membership: Membership | None, conversation_id, acting: bool = False
) -> Conversation | None:
    """The conversation if this member may see it (``acting``: and act on it), else ``None``.

    A viewer (or a super admin without a membership here) may read but not act. The answer
    never tells a forbidden conversation from a missing one.
    """
    try:
        pk = int(conversation_id)
    except (TypeError, ValueError):
        return None
    if acting and not can_act(membership):
        return None
    if membership is not None and membership.organization_id != organization.pk:
        return None
    return (
        Conversation.objects.for_organization(organization)
        .select_related("contact", "channel", "queue__department", "assignee__user", "closed_by", "csat__agent__user")
        .filter(pk=pk)
        .first()
    )


@dataclass
class History:
    messages: list[Message]
    has_older: bool


def history(
    *, organization: Organization, conversation: Conversation, before: int | None = None, after: int | None = None
) -> History:
    """The latest messages (or those before/after a message id), oldest first, in one query.

    Ids grow with time, so the page boundary is the id: a reconnecting page asks for
    everything after the last id it shows and misses nothing.
    """
    messages = Message.objects.for_organization(organization).filter(conversation=conversation).select_related("author")
    if after is not None:
        rows = list(messages.filter(pk__gt=after).order_by("id")[: HISTORY_PAGE_SIZE * 10])
        return History(messages=rows, has_older=False)
    if before is not None:
        messages = messages.filter(pk__lt=before)
    rows = list(messages.order_by("-id")[: HISTORY_PAGE_SIZE + 1])
    has_older = len(rows) > HISTORY_PAGE_SIZE
    return History(messages=list(reversed(rows[:HISTORY_PAGE_SIZE])), has_older=has_older)


def past_conversations(*, organization: Organization, conversation: Conversation) -> list[Conversation]:
    return list(
        Conversation.objects.for_organization(organization)
        .filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .select_related("queue")
        .order_by("-created_at", "-id")[:PAST_CONVERSATIONS]
    )


def contact_tags(*, conversation: Conversation) -> list:
    return list(conversation.contact.tags.order_by("name"))


def canned_response_list(*, organization: Organization) -> list[CannedResponse]:
    return list(CannedResponse.objects.for_organization(organization).order_by("shortcut"))


def membership_get_fresh(*, membership_id: int) -> Membership | None:
    """The membership as stored now (its role may have changed since a websocket connected)."""
    return (
        Membership.objects.select_related("organization", "user")
        .filter(pk=membership_id, organization__is_active=True)
        .first()
    )


def realtime_viewer(*, organization: Organization, user):
    """What the realtime fan-out needs to know about a tab's person (``realtime.may_see``), read fresh.

    ``None`` when they are no longer a member (and not a super admin): their tab is closed.
    """
    membership = (
        Membership.objects.filter(organization=organization, user=user, organization__is_active=True)
        .only("pk", "role")
        .first()
    )
    if membership is None:
        return Viewer(user_id=user.pk, role=None, superuser=True) if user.is_superuser else None
    queue_ids = (
        frozenset(membership.queues.values_list("pk", flat=True)) if membership.role == Role.AGENT else frozenset()
    )
    return Viewer(user_id=user.pk, role=membership.role, queue_ids=queue_ids, superuser=user.is_superuser)


def label_choices(*, organization: Organization) -> list[Tag]:
    """The organization's tags, offered as conversation labels (filter and pane)."""
    return list(Tag.objects.for_organization(organization).order_by("name"))


def labels_for_conversation(*, organization: Organization, conversation: Conversation) -> list[Tag]:
    """Every label of the organization, each with ``on``: whether the conversation has it (one query)."""
    has = Conversation.labels.through.objects.filter(conversation_id=conversation.pk, tag_id=OuterRef("pk"))
    return list(Tag.objects.for_organization(organization).annotate(on=Exists(has)).order_by("name"))
