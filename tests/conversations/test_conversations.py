"""Conversation services: inbound, assign, pull, transfer, close, reopen, priority, reply, notes."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.roles import Role
from conversations import services
from conversations.models import (
    AuthorType,
    ChannelKind,
    Contact,
    Conversation,
    DeliveryStatus,
    Message,
    MessageKind,
    Status,
)
from tests import factories
from tests.conversations import factories as cf
from tests.conversations.conftest import names

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tenant_a):
    queue = factories.queue(
        tenant_a.org, routing_strategy="manual", sla_first_response_minutes=30, sla_resolution_minutes=240
    )
    channel = cf.channel(tenant_a.org, queue=queue)
    agent = cf.online_agent(tenant_a.org, queue=queue)
    return tenant_a.org, queue, channel, agent


def test_inbound_creates_contact_and_conversation_in_the_default_queue(
    setup, recorded_events, django_capture_on_commit_callbacks
):
    org, queue, channel, _agent = setup
    with django_capture_on_commit_callbacks(execute=True):
        result = services.inbound_message_receive(
            channel=channel, phone="5511987650001", name="Ana", body="Oi!", provider_message_id="wamid.1"
        )
    message = result.message
    assert result.created
    conversation = message.conversation
    assert conversation.queue == queue and conversation.channel == channel and conversation.status == Status.OPEN
    assert conversation.contact.phone == "+5511987650001" and conversation.contact.name == "Ana"
    assert (message.direction, message.author_type, message.body) == ("inbound", AuthorType.CONTACT, "Oi!")
    assert conversation.first_response_due_at is not None and conversation.resolution_due_at is not None
    assert names(recorded_events) == ["contact.created", "conversation.created", "message.received"]
    assert recorded_events[1].payload == {
        "conversation_id": conversation.pk,
        "contact_id": conversation.contact_id,
        "queue_id": queue.pk,
    }
    assert recorded_events[2].payload == {
        "conversation_id": conversation.pk,
        "message_id": message.pk,
        "contact_id": conversation.contact_id,
    }


def test_second_message_joins_the_open_conversation_and_duplicates_store_once(
    setup, recorded_events, django_capture_on_commit_callbacks
):
    org, queue, channel, _agent = setup
    with django_capture_on_commit_callbacks(execute=True):
        first = services.inbound_message_receive(
            channel=channel, phone="+5511987650002", body="1", provider_message_id="wamid.a"
        ).message
        second = services.inbound_message_receive(
            channel=channel, phone="+5511987650002", body="2", provider_message_id="wamid.b"
        ).message
        duplicate = services.inbound_message_receive(
            channel=channel, phone="+5511987650002", body="1", provider_message_id="wamid.a"
        )
    assert first.conversation_id == second.conversation_id
    assert not duplicate.created and duplicate.message.pk == first.pk
    assert Message.objects.filter(provider_message_id="wamid.a").count() == 1
    assert names(recorded_events).count("message.received") == 2
    assert Conversation.objects.count() == 1 and Contact.objects.count() == 1


def test_after_close_a_new_message_opens_a_new_conversation(setup):
    org, queue, channel, agent = setup
    first = services.inbound_message_receive(channel=channel, phone="+5511987650003", body="1").message.conversation
    services.conversation_close(conversation=first, by=agent.user)
    second = services.inbound_message_receive(channel=channel, phone="+5511987650003", body="2").message.conversation
    assert second.pk != first.pk and second.status == Status.OPEN
    # The closed one cannot be reopened while the new one is active.
    with pytest.raises(ValidationError, match="already has an open conversation"):
        services.conversation_reopen(conversation=first, by=agent.user)


def test_inbound_refuses_a_bad_phone(setup):
    _org, _queue, channel, _agent = setup
    with pytest.raises(ValidationError):
        services.inbound_message_receive(channel=channel, phone="12", body="x")
    assert not Message.objects.exists()


def test_assign_emits_and_refuses_viewers_and_other_tenants(
    setup, tenant_a, tenant_b, recorded_events, django_capture_on_commit_callbacks
):
    org, queue, channel, agent = setup
    conversation = cf.conversation(org, queue=queue, channel=channel)
    other = cf.online_agent(org)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_assign(conversation=conversation, membership=agent, by=tenant_a.admin)
        services.conversation_assign(conversation=conversation, membership=other, by=tenant_a.admin)
    assigned = [e for e in recorded_events if e.name == "conversation.assigned"]
    assert [e.payload for e in assigned] == [
        {
            "conversation_id": conversation.pk,
            "agent_id": agent.user_id,
            "previous_agent_id": None,
            "queue_id": queue.pk,
            "assigned_by_id": tenant_a.admin.pk,
        },
        {
            "conversation_id": conversation.pk,
            "agent_id": other.user_id,
            "previous_agent_id": agent.user_id,
            "queue_id": queue.pk,
            "assigned_by_id": tenant_a.admin.pk,
        },
    ]
    viewer = tenant_a.viewer.memberships.get()
    with pytest.raises(ValidationError, match="Viewers"):
        services.conversation_assign(conversation=conversation, membership=viewer)
    foreign = factories.member(tenant_b.org, Role.AGENT)
    with pytest.raises(ValidationError, match="another organization"):
        services.conversation_assign(conversation=conversation, membership=foreign)


def test_pull_next_takes_most_urgent_then_oldest_from_own_queues(setup, tenant_a):
    org, queue, channel, agent = setup
    other_queue = factories.queue(org, routing_strategy="manual")
    not_mine = cf.conversation(org, queue=other_queue, priority="urgent")
    old_medium = cf.conversation(org, queue=queue)
    new_high = cf.conversation(org, queue=queue, priority="high")
    pending = cf.conversation(org, queue=queue, priority="urgent")
    services.conversation_set_pending(conversation=pending)
    assert services.conversation_pull_next(membership=agent).pk == new_high.pk
    assert services.conversation_pull_next(membership=agent).pk == old_medium.pk
    assert services.conversation_pull_next(membership=agent) is None
    not_mine.refresh_from_db()
    assert not_mine.assignee is None
    with pytest.raises(ValidationError):
        services.conversation_pull_next(membership=tenant_a.viewer.memberships.get())


def test_pull_serves_higher_priority_queues_first(setup):
    org, queue, _channel, agent = setup
    vip = factories.queue(org, routing_strategy="manual", priority=9)
    vip.agents.add(agent)
    urgent_in_normal = cf.conversation(org, queue=queue, priority="urgent")
    low_in_vip = cf.conversation(org, queue=vip, priority="low")
    assert queue.priority < vip.priority
    assert services.conversation_pull_next(membership=agent).pk == low_in_vip.pk
    assert services.conversation_pull_next(membership=agent).pk == urgent_in_normal.pk


def test_set_priority_changes_the_pull_order(setup):
    org, queue, _channel, agent = setup
    first = cf.conversation(org, queue=queue)
    second = cf.conversation(org, queue=queue, priority="low")
    updated = services.conversation_set_priority(conversation=second, priority="urgent")
    assert updated.priority_rank == 4
    assert services.conversation_pull_next(membership=agent).pk == second.pk
    with pytest.raises(ValidationError):
        services.conversation_set_priority(conversation=first, priority="critical")


def test_transfer_to_queue_leaves_a_system_message_and_reroutes(
    setup, tenant_a, recorded_events, django_capture_on_commit_callbacks
):
    org, queue, channel, agent = setup
    target = factories.queue(org, name="Billing", routing_strategy="round_robin", sla_first_response_minutes=5)
    billing_agent = cf.online_agent(org, queue=target)
    conversation = cf.conversation(org, queue=queue, channel=channel)
    services.conversation_assign(conversation=conversation, membership=agent)
    old_due = conversation.first_response_due_at
    with django_capture_on_commit_callbacks(execute=True):
        conversation = services.conversation_transfer(
            conversation=conversation, by=tenant_a.admin, to_queue=target, reason="billing question"
        )
    assert conversation.queue == target and conversation.assignee == billing_agent
    assert conversation.first_response_due_at < old_due  # the 5-minute target of the new queue
    system = conversation.messages.get(author_type=AuthorType.SYSTEM)
    assert system.kind == MessageKind.SYSTEM and "Billing" in system.body and "billing question" in system.body
    transferred = next(e for e in recorded_events if e.name == "conversation.transferred")
    assert transferred.payload == {
        "conversation_id": conversation.pk,
        "from_queue_id": queue.pk,
        "to_queue_id": target.pk,
        "from_agent_id": agent.user_id,
        "to_agent_id": None,
        "by_id": tenant_a.admin.pk,
    }
    assert names(recorded_events)[-1] == "conversation.assigned"


def test_transfer_to_agent_and_refusals(setup, tenant_a):
    org, queue, channel, agent = setup
    colleague = cf.online_agent(org)
    conversation = cf.conversation(org, queue=queue)
    conversation = services.conversation_transfer(conversation=conversation, by=agent.user, to_membership=colleague)
    assert conversation.assignee == colleague and conversation.queue == queue
    with pytest.raises(ValidationError, match="already there"):
        services.conversation_transfer(conversation=conversation, by=agent.user, to_membership=colleague)
    with pytest.raises(ValidationError, match="queue or an agent"):
        services.conversation_transfer(conversation=conversation, by=agent.user)


def test_close_and_reopen(setup, tenant_a, recorded_events, django_capture_on_commit_callbacks):
    org, queue, channel, agent = setup
    conversation = cf.conversation(org, queue=queue, channel=channel)
    services.conversation_assign(conversation=conversation, membership=agent)
    with django_capture_on_commit_callbacks(execute=True):
        closed = services.conversation_close(conversation=conversation, by=tenant_a.admin)
    assert closed.status == Status.CLOSED and closed.closed_at and closed.closed_by == tenant_a.admin
    assert recorded_events[-1].payload == {
        "conversation_id": conversation.pk,
        "agent_id": agent.user_id,
        "closed_by_id": tenant_a.admin.pk,
    }
    with pytest.raises(ValidationError, match="already closed"):
        services.conversation_close(conversation=conversation)
    with pytest.raises(ValidationError, match="Reopen"):
        services.message_send(conversation=conversation, author=agent, body="hi")
    with django_capture_on_commit_callbacks(execute=True):
        reopened = services.conversation_reopen(conversation=conversation, by=agent.user)
    assert reopened.status == Status.OPEN and reopened.closed_at is None
    assert reopened.resolution_due_at > closed.closed_at
    assert recorded_events[-1].name == "conversation.reopened"
    assert recorded_events[-1].payload == {"conversation_id": conversation.pk, "by_id": agent.user_id}
    with pytest.raises(ValidationError, match="already open"):
        services.conversation_reopen(conversation=conversation)
    services.conversation_close(conversation=conversation)
    archived = services.conversation_archive(conversation=conversation)
    assert archived.status == Status.ARCHIVED


def test_reply_sets_first_response_once_and_queues_delivery(setup, recorded_events, django_capture_on_commit_callbacks):
    org, queue, channel, agent = setup
    conversation = cf.conversation(org, queue=queue, channel=channel)
    assert conversation.first_response_at is None
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reply = services.message_send(conversation=conversation, author=agent, body="  Olá!\x00  ")
    conversation.refresh_from_db()
    first_response = conversation.first_response_at
    assert first_response is not None
    assert (reply.body, reply.delivery_status, reply.author, reply.direction) == (
        "Olá!",
        DeliveryStatus.QUEUED,
        agent.user,
        "outbound",
    )
    assert len(callbacks) == 2  # delivery task + event, both after the commit
    services.message_send(conversation=conversation, author=agent, body="again")
    conversation.refresh_from_db()
    assert conversation.first_response_at == first_response
    with pytest.raises(ValidationError, match="Write a message"):
        services.message_send(conversation=conversation, author=agent, body="   ")


def test_reply_refused_for_blocked_or_opted_out_contacts(setup):
    org, queue, channel, agent = setup
    conversation = cf.conversation(org, queue=queue, channel=channel)
    services.contact_set_opt_in(contact=conversation.contact, opt_in="opted_out")
    with pytest.raises(ValidationError, match="opted out"):
        services.message_send(conversation=conversation, author=agent, body="hi")
    services.contact_set_blocked(contact=conversation.contact, blocked=True)
    with pytest.raises(ValidationError, match="blocked"):
        services.message_send(conversation=conversation, author=agent, body="hi")


def test_internal_note_does_not_count_as_first_response(setup, recorded_events, django_capture_on_commit_callbacks):
    org, queue, channel, agent = setup
    conversation = cf.conversation(org, queue=queue, channel=channel)
    with django_capture_on_commit_callbacks(execute=True):
        note = services.note_add(conversation=conversation, author=agent, body="customer is VIP")
    conversation.refresh_from_db()
    assert note.is_internal_note and conversation.first_response_at is None
    assert recorded_events[-1].name == "message.sent"
    assert recorded_events[-1].payload == {
        "conversation_id": conversation.pk,
        "message_id": note.pk,
        "author_id": agent.user_id,
    }
    # A note is never delivered to the customer: it has no outbox row.
    from notifications.models import NotificationLog

    assert not NotificationLog.objects.filter(dedupe_key=f"message:{note.pk}").exists()


def test_console_channel_delivers_and_stores_a_provider_id(setup):
    org, queue, _channel, agent = setup
    console = cf.channel(org, kind=ChannelKind.CONSOLE, queue=queue)
    conversation = services.inbound_message_receive(
        channel=console, phone="+5511987650009", body="hi"
    ).message.conversation
    reply = services.message_send(conversation=conversation, author=agent, body="hello from console")
    delivered = cf.deliver(reply)
    assert delivered.delivery_status == DeliveryStatus.SENT and delivered.provider_message_id.startswith("console-")
    again = cf.deliver(reply)
    assert again.provider_message_id == delivered.provider_message_id


def test_reply_with_attachment_is_validated_and_stored_under_a_safe_name(setup, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    org, queue, channel, agent = setup
    conversation = cf.conversation(org, queue=queue, channel=channel)
    upload = SimpleUploadedFile("../../etc/My Report (final).pdf", b"%PDF-1.4 test", content_type="application/pdf")
    message = services.message_send(conversation=conversation, author=agent, body="see attached", attachment=upload)
    assert message.kind == MessageKind.DOCUMENT
    assert message.attachment_name == "My_Report_final.pdf"
    assert message.attachment.name.startswith(f"attachments/{org.pk}/") and ".." not in message.attachment.name
    assert message.attachment_size == len(b"%PDF-1.4 test")
    bad = SimpleUploadedFile("virus.exe", b"MZ", content_type="application/x-msdownload")
    with pytest.raises(ValidationError, match="cannot be sent"):
        services.message_send(conversation=conversation, author=agent, attachment=bad)
    disguised = SimpleUploadedFile("photo.exe", b"\xff\xd8", content_type="image/jpeg")
    with pytest.raises(ValidationError, match="does not match"):
        services.message_send(conversation=conversation, author=agent, attachment=disguised)


def test_delivery_statuses_only_move_forward(setup):
    org, queue, _channel, agent = setup
    console = cf.channel(org, kind=ChannelKind.CONSOLE, queue=queue)
    conversation = services.inbound_message_receive(
        channel=console, phone="+5511987650010", body="hi"
    ).message.conversation
    reply = cf.deliver(services.message_send(conversation=conversation, author=agent, body="x"))
    pid = reply.provider_message_id
    services.message_status_update(organization=org, provider_message_id=pid, status="read")
    services.message_status_update(organization=org, provider_message_id=pid, status="delivered")
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.READ and reply.read_at and reply.delivered_at
    row = cf.outbox_row(reply)
    assert row.status == "read" and row.read_at and row.delivered_at
    assert services.message_status_update(organization=org, provider_message_id="unknown", status="read") is None


def test_pull_reads_the_queue_through_its_partial_index(setup):
    """Deterministic, not the planner's choice on a tiny table: thousands of the queue's
    conversations already assigned and thousands unassigned in another queue (which the indexes
    on the queue or on the assignee would read through and sort, and the partial index leaves
    out), ANALYZE, and sequential scans priced out."""
    from django.db import connection, transaction

    org, queue, _channel, agent = setup
    for _ in range(3):
        taken = cf.conversation(org, queue=queue)
    other_queue = factories.queue(org, routing_strategy="manual")
    Conversation.objects.bulk_create(  # volume for the planner only
        [
            Conversation(organization=org, contact=taken.contact, queue=queue, status=Status.OPEN, assignee=agent)
            for _ in range(3000)
        ]
        + [
            Conversation(organization=org, contact=taken.contact, queue=other_queue, status=Status.OPEN)
            for _ in range(3000)
        ]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # Only an index giving the pull order without a sort escapes the disabled nodes: deterministic.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        plan = (
            Conversation.objects.filter(queue_id=queue.pk, status=Status.OPEN, assignee__isnull=True)
            .order_by("-priority_rank", "created_at", "id")
            .select_for_update(skip_locked=True, of=("self",))[:1]
            .explain()
        )
    assert "conv_pull_unassigned" in plan and "Sort" not in plan, plan


def test_a_failing_listener_is_logged_and_never_fails_the_action(setup, caplog, django_capture_on_commit_callbacks):
    import logging

    from pytake import events

    org, queue, _channel, agent = setup
    conversation = cf.conversation(org, queue=queue)

    @events.listener("conversation.closed")
    def broken(event):
        raise RuntimeError("listener bug")

    caplog.set_level(logging.ERROR, logger="pytake.events")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            closed = services.conversation_close(conversation=conversation, by=agent.user)
    finally:
        events._listeners["conversation.closed"].remove(broken)
    assert Conversation.objects.get(pk=closed.pk).status == Status.CLOSED
    assert "listener bug" in caplog.text


def test_hot_paths_run_a_fixed_number_of_queries(setup, django_assert_num_queries):
    """Pinned so that a change adding queries to pulling, inbound or replying is noticed."""
    org, queue, channel, agent = setup
    for _ in range(5):
        cf.conversation(org, queue=queue)
    agent = type(agent).objects.select_related("user").get(pk=agent.pk)
    ContentType.objects.get_for_model(Conversation)  # cached per process after its first use
    # savepoint, one claiming UPDATE (queues, lock next, assign), the notifications outbox listener in its
    # own savepoint (2), the audit entry (with the contact for its label), release
    with django_assert_num_queries(7):
        assert services.conversation_pull_next(membership=agent) is not None
    services.inbound_message_receive(channel=channel, phone="+5511987650077", body="first")
    # savepoint, dedupe, contact, conversation lock, message in a savepoint, usage upsert, 2 updates, the
    # campaigns' reply check in its own savepoint (3), the reports' rollup (savepoint, the message with its
    # conversation, one upsert, release), release (the organization's consent keywords were read with the
    # first message: none here)
    with django_assert_num_queries(18):
        services.inbound_message_receive(
            channel=channel, phone="+5511987650077", body="second", provider_message_id="wamid.q"
        )
    conversation = Conversation.objects.get(contact__phone="+5511987650077")
    # savepoint, lock conversation (contact and channel joined), usage upsert, insert, update, its outbox row,
    # the reports' rollup (savepoint, the message with its conversation, business hours and holidays for the
    # first response's business time, one upsert, release), release
    with django_assert_num_queries(13):
        services.message_send(conversation=conversation, author=agent, body="reply")
    # A later reply: no first response, so no business hours.
    with django_assert_num_queries(11):
        services.message_send(conversation=conversation, author=agent, body="another reply")


def test_replies_and_notes_over_the_channels_limit_are_refused_not_cut(setup):
    org, queue, channel, agent = setup
    whatsapp = cf.channel(org, queue=queue)
    conversation = services.inbound_message_receive(
        channel=whatsapp, phone="+5511987650099", body="hi"
    ).message.conversation
    with pytest.raises(ValidationError) as refused:
        services.message_send(conversation=conversation, author=agent, body="a" * 4097)
    assert refused.value.messages == [
        "A message on WhatsApp Cloud API can have at most 4096 characters; this one has 4097. "
        "Shorten it or split it in two."
    ]
    with pytest.raises(ValidationError, match="A note can have at most 4096 characters; this one has 5000"):
        services.note_add(conversation=conversation, author=agent, body="n" * 5000)
    # Browsers send line breaks as CRLF: counted once, as the composer counts them.
    text = "line\r\n" * 800 + "end"  # 4,803 characters as sent, 4,003 once stored
    reply = services.message_send(conversation=conversation, author=agent, body=text)
    assert reply.body == text.replace("\r\n", "\n") and len(reply.body) == 4003
    assert not conversation.messages.filter(body__startswith="aaaa").exists()
