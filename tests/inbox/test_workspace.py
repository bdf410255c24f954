"""The agent's workspace, below the browser: snooze and wake-up, mentions, labels, bulk actions, the
list's SLA filter, permissions and tenant isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Role
from conversations import services
from conversations.inbox import selectors
from conversations.models import Conversation, Mention, Status
from conversations.services.snooze import snooze_due
from notifications.models import NotificationLog
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

LIST = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "inbox-list"}


def _conversation(desk, **fields):
    conversation = cf.conversation(desk.tenant.org, queue=desk.queue, channel=desk.channel, **fields)
    conversation.refresh_from_db()
    return conversation


def _list_ids(desk, **filters) -> list[int]:
    page = selectors.inbox_page(
        organization=desk.tenant.org, membership=desk.agent, filters=selectors.InboxFilters(**filters)
    )
    return [c.pk for c in page.conversations]


# --- snooze ---------------------------------------------------------------------------------------------


def test_snoozed_leaves_the_active_list_and_wakes_when_its_time_comes(desk):
    conversation = _conversation(desk)
    until = timezone.now() + dt.timedelta(hours=2)
    services.conversation_snooze(conversation=conversation, by=desk.tenant.agent, until=until)
    assert conversation.pk not in _list_ids(desk)
    assert _list_ids(desk, status="snoozed") == [conversation.pk]
    counts = selectors.inbox_counts(organization=desk.tenant.org, membership=desk.agent)
    assert (counts["all"], counts["snoozed"]) == (0, 1)

    assert services.snooze_wake_due(now=until - dt.timedelta(minutes=1)) == 0
    assert services.snooze_wake_due(now=until) == 1
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None and conversation.snoozed_until is None
    assert _list_ids(desk) == [conversation.pk]
    assert services.snooze_wake_due(now=until + dt.timedelta(hours=1)) == 0  # woken once


def test_the_customer_reply_wakes_a_conversation_snoozed_until_reply(desk):
    first = services.inbound_message_receive(channel=desk.channel, phone=cf.phone(), body="hi").message
    conversation = first.conversation
    services.conversation_snooze(conversation=conversation, by=desk.tenant.agent, until=None)
    assert (
        services.snooze_wake_due(now=timezone.now() + dt.timedelta(days=30)) == 0
    )  # no wake time: waits for the reply
    services.inbound_message_receive(channel=desk.channel, phone=conversation.contact.phone, body="any news?")
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    assert Conversation.objects.filter(contact=conversation.contact).count() == 1


def test_snooze_pauses_the_sla_clock(desk):
    desk.queue.sla_first_response_minutes = 60
    desk.queue.save()
    conversation = _conversation(desk)
    due = conversation.first_response_due_at
    services.conversation_snooze(conversation=conversation, by=desk.tenant.agent, until=None)
    # Asleep past its due time: the sweep leaves it alone.
    raised = services.sla_sweep(now=due + dt.timedelta(minutes=5))
    assert raised["sla.breached:first_response"] == 0
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_at=timezone.now() - dt.timedelta(minutes=30))
    services.conversation_wake(conversation=conversation, by=desk.tenant.agent)
    conversation.refresh_from_db()
    # No business hours configured: calendar time, so the target moved by the 30 minutes it slept.
    assert dt.timedelta(minutes=29) < conversation.first_response_due_at - due < dt.timedelta(minutes=31)


def test_snooze_refuses_the_past_and_closed_conversations(desk):
    conversation = _conversation(desk)
    with pytest.raises(ValidationError, match="future"):
        services.conversation_snooze(
            conversation=conversation, by=desk.tenant.agent, until=timezone.now() - dt.timedelta(minutes=1)
        )
    services.conversation_close(conversation=conversation, by=desk.tenant.agent)
    with pytest.raises(ValidationError, match="open or pending"):
        services.conversation_snooze(conversation=conversation, by=desk.tenant.agent, until=None)


def test_the_wake_job_reads_due_rows_through_its_partial_index(desk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'conv_snooze_wake_due'")
        (definition,) = cursor.fetchone()
    assert "(snoozed_until)" in definition
    assert "snoozed_at IS NOT NULL" in definition and "snoozed_until IS NOT NULL" in definition
    # The job's filter is the index's predicate plus the due bound, ordered by the indexed column.
    sql = str(snooze_due(now=timezone.now()).query)
    assert '"snoozed_at" IS NOT NULL' in sql and '"snoozed_until" IS NOT NULL' in sql
    assert 'ORDER BY "conversations_conversation"."snoozed_until"' in sql
    # Nothing due: one query, however many conversations sleep.
    for _ in range(3):
        services.conversation_snooze(
            conversation=_conversation(desk), by=desk.tenant.agent, until=timezone.now() + dt.timedelta(days=1)
        )
    with CaptureQueriesContext(connection) as captured:
        assert services.snooze_wake_due() == 0
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1 and "SKIP LOCKED" in statements[0]


# --- mentions -------------------------------------------------------------------------------------------


def test_a_mention_in_a_note_notifies_the_teammate_once(desk, tenant_b):
    bruno = factories.member(desk.tenant.org, Role.AGENT, email="bruno@alpha.test", full_name="Bruno Costa")
    factories.member(tenant_b.org, Role.AGENT, email="carla@beta.test")  # another organization's handle
    conversation = _conversation(desk)
    note = services.note_add(
        conversation=conversation,
        author=desk.agent,
        body="@bruno can you look? @carla too, and @agent (me).",
    )
    assert list(Mention.objects.filter(message=note).values_list("membership_id", flat=True)) == [bruno.pk]
    rows = NotificationLog.objects.filter(event_type="mention", user=bruno.user)
    assert rows.exists()
    assert not NotificationLog.objects.filter(event_type="mention").exclude(user=bruno.user).exists()
    in_app = rows.get(channel="in_app")
    assert "can you look?" in in_app.message and f"/inbox/?c={conversation.pk}" in in_app.message


def test_mention_handles_are_parsed_from_the_text():
    assert services.mention_handles("@ana, @Bruno.Costa. e-mail a@b.c and @ana again") == ["ana", "bruno.costa"]


# --- labels ---------------------------------------------------------------------------------------------


def test_labels_filter_the_list(desk):
    tagged, other = _conversation(desk), _conversation(desk)
    vip = cf.tag(desk.tenant.org, "vip")
    assert services.conversation_label_add(conversation=tagged, tag=vip, by=desk.tenant.agent)
    assert not services.conversation_label_add(conversation=tagged, tag=vip, by=desk.tenant.agent)
    assert _list_ids(desk, label_id=vip.pk) == [tagged.pk]
    assert set(_list_ids(desk)) == {tagged.pk, other.pk}


def test_a_label_of_another_organization_is_refused(desk, tenant_b):
    foreign = cf.tag(tenant_b.org, "foreign")
    with pytest.raises(ValidationError):
        services.conversation_label_add(conversation=_conversation(desk), tag=foreign, by=desk.tenant.agent)


# --- SLA --------------------------------------------------------------------------------------------------


def test_breaching_soon_lists_conversations_past_their_warning(desk):
    desk.queue.sla_first_response_minutes = 10
    desk.queue.save()
    soon, fine = _conversation(desk), _conversation(desk)
    now = timezone.now()
    Conversation.objects.filter(pk=soon.pk).update(
        first_response_warning_at=now - dt.timedelta(minutes=1), first_response_due_at=now + dt.timedelta(minutes=1)
    )
    assert _list_ids(desk, sla="soon") == [soon.pk]
    soon.refresh_from_db()
    fine.refresh_from_db()
    assert (soon.sla_next.state, fine.sla_next.state) == ("warning", "ok")


# --- bulk actions -----------------------------------------------------------------------------------------


def test_bulk_close_through_the_view(desk, client_for):
    conversations = [_conversation(desk) for _ in range(3)]
    closed_already = _conversation(desk)
    services.conversation_close(conversation=closed_already, by=desk.tenant.agent)
    response = client_for(desk.tenant.agent).post(
        "/inbox/bulk/", {"action": "close", "ids": [c.pk for c in conversations] + [closed_already.pk]}, **LIST
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "3 conversations done." in body and f"#{closed_already.pk}" in body
    assert set(Conversation.objects.filter(pk__in=[c.pk for c in conversations]).values_list("status", flat=True)) == {
        Status.CLOSED
    }


def test_viewers_cannot_run_bulk_actions(desk, client_for):
    conversation = _conversation(desk)
    response = client_for(desk.tenant.viewer).post("/inbox/bulk/", {"action": "close", "ids": [conversation.pk]})
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        services.conversation_bulk_apply(
            organization=desk.tenant.org, membership=desk.viewer, conversation_ids=[conversation.pk], action="close"
        )
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN


def test_bulk_actions_never_reach_another_organization(desk, tenant_b, client_for):
    foreign = cf.conversation(tenant_b.org)
    mine = _conversation(desk)
    response = client_for(desk.tenant.admin).post(
        "/inbox/bulk/", {"action": "priority", "priority": "urgent", "ids": [foreign.pk, mine.pk]}, **LIST
    )
    assert response.status_code == 200
    foreign.refresh_from_db()
    mine.refresh_from_db()
    assert (foreign.priority, mine.priority) == ("medium", "urgent")
    # An agent or queue of another organization is refused before anything runs.
    other_agent = Membership.objects.get(organization=tenant_b.org, user=tenant_b.agent)
    response = client_for(desk.tenant.admin).post(
        "/inbox/bulk/", {"action": "assign", "agent": other_agent.pk, "ids": [mine.pk]}, **LIST
    )
    assert response.status_code == 422
    mine.refresh_from_db()
    assert mine.assignee_id != other_agent.pk


def test_bulk_refuses_bad_input_clearly(desk, client_for):
    client = client_for(desk.tenant.agent)
    assert client.post("/inbox/bulk/", {"action": "close"}, **LIST).status_code == 422
    assert client.post("/inbox/bulk/", {"action": "explode", "ids": ["1"]}, **LIST).status_code == 422
    assert client.post("/inbox/bulk/", {"action": "close", "ids": ["x", "-3"]}, **LIST).status_code == 422


# --- dashboard --------------------------------------------------------------------------------------------


def test_my_work_and_the_queues_on_the_dashboard(desk, client_for):
    mine = _conversation(desk)
    services.conversation_assign(conversation=mine, membership=desk.agent, by=desk.tenant.admin)
    snoozed = _conversation(desk)
    services.conversation_assign(conversation=snoozed, membership=desk.agent, by=desk.tenant.admin)
    services.conversation_snooze(conversation=snoozed, by=desk.tenant.agent, until=None)
    Conversation.objects.filter(pk__in=[mine.pk, snoozed.pk]).update(status=Status.OPEN)
    body = client_for(desk.tenant.agent).get("/inbox/my-work/").content.decode()
    assert 'data-work="open">1<' in body and 'data-work="snoozed">1<' in body
    assert "queue-overview" not in body  # the organization's queues are for org admins
    waiting = cf.conversation(desk.tenant.org, queue=desk.queue, channel=desk.whatsapp, auto_assign=False)
    assert waiting.assignee_id is None
    admin_body = client_for(desk.tenant.admin).get("/inbox/my-work/").content.decode()
    assert "queue-overview" in admin_body and f'data-queue="{desk.queue.pk}"' in admin_body


# --- signals for new work ---------------------------------------------------------------------------------


def test_the_signals_are_personal_preferences_the_inbox_reads(desk, client_for):
    client = client_for(desk.tenant.agent)
    page = client.get("/inbox/").content.decode()
    # Defaults: desktop notifications wanted (the browser still asks), no sound; never asked on load.
    assert 'data-desktop-message="1"' in page and 'data-sound="0"' in page
    assert 'id="enable-desktop-notifications"' in page
    form = client.get("/settings/notifications/").content.decode()
    assert 'name="sound"' in form and 'name="desktop_assignment"' in form
    data = {
        "email_enabled": "on",
        "websocket_enabled": "on",
        "in_app_enabled": "on",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "08:00",
        "max_emails_per_hour": "10",
        "max_sms_per_hour": "5",
        "sound": "on",
        "title_counter": "on",
    }
    assert client.post("/settings/notifications/", data).status_code == 302
    page = client.get("/inbox/").content.decode()
    assert 'data-sound="1"' in page and 'data-desktop-message="0"' in page and 'data-title-counter="1"' in page


def test_the_notification_center_shows_compact_items_with_a_link(desk, client_for):
    from notifications.services import outbox

    bruno = factories.member(desk.tenant.org, Role.AGENT, email="bruno@alpha.test", full_name="Bruno Costa")
    conversation = _conversation(desk)
    services.note_add(conversation=conversation, author=desk.agent, body="@bruno the refund is approved.")
    outbox.notification_deliver(log_id=NotificationLog.objects.get(user=bruno.user, channel="in_app").pk)
    page = client_for(bruno.user).get("/notifications/").content.decode()
    item = page[page.index('data-event-type="mention"') :]
    item = item[: item.index("</li>")]
    assert f'href="/inbox/?c={conversation.pk}"' in item and "Open the conversation" in item
    assert "http://" not in item and "https://" not in item  # no raw URL from the email body
    assert "the refund is approved." in item, item
