"""Listeners: events by name with the contract's payload (pytake/events.py) → notifications."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import AgentStatus, Membership
from conversations import services as conversation_services
from notifications.models import NotificationLog, Status
from pytake.events import Event, dispatch
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def rows(**filters):
    return list(NotificationLog.objects.filter(**filters).order_by("id"))


def test_conversation_assigned_notifies_the_agent_with_the_contact(tenant_a, django_capture_on_commit_callbacks):
    contact = cf.contact(tenant_a.org, name="Maria Cliente")
    conversation = cf.conversation(tenant_a.org, contact_=contact)
    membership = Membership.objects.get(user=tenant_a.agent, organization=tenant_a.org)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_services.conversation_assign(conversation=conversation, membership=membership, by=tenant_a.admin)
    got = rows(user=tenant_a.agent, event_type="conversation_assigned")
    assert {r.channel for r in got} == {"email", "sms", "whatsapp", "websocket", "in_app"}
    email = next(r for r in got if r.channel == "email")
    assert email.status == Status.PENDING and "Maria Cliente" in email.subject
    assert f"?c={conversation.pk}" in email.html
    assert email.metadata["conversation_id"] == conversation.pk


def test_self_assignment_is_not_notified(tenant_a):
    dispatch(
        Event(
            "conversation.assigned",
            tenant_a.org.pk,
            {"conversation_id": 1, "agent_id": tenant_a.agent.pk, "assigned_by_id": tenant_a.agent.pk},
        )
    )
    assert not NotificationLog.objects.exists()


def test_missing_conversation_fails_soft_and_still_notifies(tenant_a, caplog):
    dispatch(
        Event(
            "conversation.assigned",
            tenant_a.org.pk,
            {"conversation_id": 999999, "agent_id": tenant_a.agent.pk, "assigned_by_id": None},
        )
    )
    assert "not found" in caplog.text
    assert rows(user=tenant_a.agent, channel="in_app")[0].metadata["conversation_id"] == 999999


def test_sla_warning_goes_to_the_agent_and_org_admins_once(tenant_a):
    event = Event(
        "sla.warning",
        tenant_a.org.pk,
        {
            "conversation_id": 5,
            "kind": "first_response",
            "agent_id": tenant_a.agent.pk,
            "queue_id": None,
            "due_at": "2026-05-04T15:00:00+00:00",
        },
    )
    dispatch(event)
    dispatch(event)  # delivered twice: the dedupe key keeps one set of rows
    got = rows(event_type="sla_warning", channel="email")
    assert {r.user_id for r in got} == {tenant_a.agent.pk, tenant_a.admin.pk}
    assert not any(r.urgent for r in got)
    agent_row = next(r for r in got if r.user_id == tenant_a.agent.pk)
    assert "Primeira resposta" in agent_row.message  # the agent reads pt-BR (the default language)


def test_sla_breach_is_urgent_and_bypasses_quiet_hours(tenant_a):
    from tests.notifications import factories as nf
    from tests.notifications.test_notify import _quiet_around_now

    start, end = _quiet_around_now("America/Sao_Paulo")
    nf.preference(tenant_a.org, tenant_a.agent, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    dispatch(
        Event(
            "sla.breached",
            tenant_a.org.pk,
            {
                "conversation_id": 5,
                "kind": "resolution",
                "agent_id": tenant_a.agent.pk,
                "queue_id": None,
                "due_at": None,
            },
        )
    )
    email = rows(event_type="sla_breached", channel="email", user=tenant_a.agent)[0]
    assert email.urgent and email.status == Status.PENDING


def test_conversation_closed_by_someone_else_notifies_the_agent(tenant_a, django_capture_on_commit_callbacks):
    conversation = cf.conversation(tenant_a.org)
    membership = Membership.objects.get(user=tenant_a.agent, organization=tenant_a.org)
    conversation_services.conversation_assign(conversation=conversation, membership=membership, by=tenant_a.agent)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_services.conversation_close(conversation=conversation, by=tenant_a.admin)
    assert {r.user_id for r in rows(event_type="conversation_closed")} == {tenant_a.agent.pk}


def test_new_contact_notifies_org_admins_live(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        cf.contact(tenant_a.org, name="Novo Contato")
    got = rows(event_type="new_contact")
    assert {(r.user_id, r.channel) for r in got} == {(tenant_a.admin.pk, "websocket"), (tenant_a.admin.pk, "in_app")}
    assert "Novo Contato" in got[0].subject


def test_agent_offline_notifies_the_org_admins_of_that_org_only(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    membership = Membership.objects.get(user=tenant_a.agent, organization=tenant_a.org)
    account_services.agent_set_status(membership=membership, status=AgentStatus.ONLINE)
    with django_capture_on_commit_callbacks(execute=True):
        account_services.agent_set_status(membership=membership, status=AgentStatus.OFFLINE)
    got = rows(event_type="agent_offline")
    assert {r.user_id for r in got} == {tenant_a.admin.pk}
    assert {r.organization_id for r in got} == {tenant_a.org.pk}


def test_event_for_a_user_of_another_org_notifies_nobody(tenant_a, tenant_b):
    dispatch(
        Event(
            "conversation.assigned",
            tenant_a.org.pk,
            {"conversation_id": 1, "agent_id": tenant_b.agent.pk, "assigned_by_id": None},
        )
    )
    assert not NotificationLog.objects.exists()
