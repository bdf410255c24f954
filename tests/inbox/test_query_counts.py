"""The inbox's hot paths run a fixed number of queries, however many conversations and messages there are."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import AuthorType, Contact, Conversation, Direction, Message, Status
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

LIST = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}
PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-pane"}


def bulk_conversations(desk, count: int, start: int = 0) -> list[Conversation]:
    org = desk.tenant.org
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        [Contact(organization=org, name=f"Bulk {start + n}", phone=f"+5511955{start + n:06d}") for n in range(count)]
    )
    tag = cf.tag(org, f"bulk-{start}")
    for contact in contacts[:5]:
        contact.tags.add(tag)
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                organization=org,
                contact=contact,
                queue=desk.queue,
                status=Status.OPEN if n % 3 else Status.PENDING,
                assignee=desk.agent if n % 2 else None,
                last_message_at=now - dt.timedelta(seconds=n),
                sla_started_at=now,
            )
            for n, contact in enumerate(contacts)
        ]
    )
    Message.objects.bulk_create(
        [
            Message(
                organization=org,
                conversation=conversation,
                direction=Direction.INBOUND,
                author_type=AuthorType.CONTACT,
                body=f"hi {n}",
            )
            for n, conversation in enumerate(conversations)
        ]
    )
    return conversations


def bulk_messages(desk, conversation: Conversation, count: int) -> None:
    Message.objects.bulk_create(
        [
            Message(
                organization=desk.tenant.org,
                conversation=conversation,
                direction=Direction.INBOUND if n % 2 else Direction.OUTBOUND,
                author_type=AuthorType.CONTACT if n % 2 else AuthorType.AGENT,
                author=None if n % 2 else desk.tenant.agent,
                body=f"message {n}",
                is_internal_note=(n % 10 == 0),
            )
            for n in range(count)
        ]
    )


def queries(client, url: str, headers: dict) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("query", ["", "view=mine", "view=unassigned&status=open", "q=bulk", "priority=medium&page=2"])
def test_the_list_runs_the_same_queries_with_10_and_1000_conversations(
    desk, client_for, django_assert_num_queries, query
):
    client = client_for(desk.tenant.agent)
    bulk_conversations(desk, 10)
    small = queries(client, f"/inbox/?{query}", LIST)
    bulk_conversations(desk, 990, start=10)
    with django_assert_num_queries(small):
        client.get(f"/inbox/?{query}", **LIST)
    assert small <= 12


def test_the_pane_runs_the_same_queries_with_10_and_1000_messages(desk, client_for, django_assert_num_queries):
    client = client_for(desk.tenant.agent)
    cf.canned_response(desk.tenant.org)
    conversations = bulk_conversations(desk, 12)
    small_one, big_one = conversations[0], conversations[1]
    for past in conversations[2:]:
        Conversation.objects.filter(pk=past.pk).update(
            contact=big_one.contact, status=Status.CLOSED, closed_at=timezone.now()
        )
    bulk_messages(desk, small_one, 10)
    bulk_messages(desk, big_one, 1000)
    small = queries(client, f"/inbox/?c={small_one.pk}", PANE)
    with django_assert_num_queries(small):
        response = client.get(f"/inbox/?c={big_one.pk}", **PANE)
    assert response.content.decode().count('class="msg ') == 30
    # 15: the merged pane also reads the contact panel's tags and tag choices and the conversation's
    # labels (one query each, whatever the size); the number must not grow with the history.
    assert small <= 15


def test_the_full_page_runs_the_same_queries_with_10_and_1000(desk, client_for, django_assert_num_queries):
    client = client_for(desk.tenant.agent)
    first = bulk_conversations(desk, 10)[0]
    bulk_messages(desk, first, 10)
    small = queries(client, f"/inbox/?c={first.pk}", {})
    bulk_conversations(desk, 990, start=10)
    bulk_messages(desk, first, 990)
    with django_assert_num_queries(small):
        client.get(f"/inbox/?c={first.pk}")


def test_older_and_newer_pages_are_one_query_each(desk, client_for, django_assert_num_queries):
    client = client_for(desk.tenant.agent)
    conversation = bulk_conversations(desk, 1)[0]
    bulk_messages(desk, conversation, 1000)
    ids = list(conversation.messages.order_by("id").values_list("pk", flat=True))
    older = queries(
        client, f"/inbox/?c={conversation.pk}&before={ids[500]}", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "this"}
    )
    newer = queries(
        client,
        f"/inbox/?c={conversation.pk}&after={ids[990]}",
        {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "history-messages"},
    )
    with django_assert_num_queries(older):
        client.get(f"/inbox/?c={conversation.pk}&before={ids[20]}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="this")
    assert newer == older
