"""Conversations admin: secrets never shown, changelists without N+1, actions through the services."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.models import Channel, Conversation, Status
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def test_channel_secrets_are_never_displayed(tenant_a, client_for):
    channel = cf.channel(
        tenant_a.org, access_token="EAAG-super-secret", app_secret="app-secret-xyz", verify_token="verify-me-123"
    )
    client = client_for(tenant_a.admin)
    for url in (
        reverse("admin:conversations_channel_changelist"),
        reverse("admin:conversations_channel_change", args=[channel.pk]),
    ):
        page = client.get(url).content.decode()
        for secret in ("EAAG-super-secret", "app-secret-xyz", "verify-me-123"):
            assert secret not in page, (url, secret)
    assert (
        f"/webhooks/whatsapp/{channel.public_id}/"
        in client.get(reverse("admin:conversations_channel_changelist")).content.decode()
    )


def test_saving_a_channel_with_empty_secrets_keeps_them(tenant_a, client_for):
    queue = factories.queue(tenant_a.org)
    channel = cf.channel(tenant_a.org, access_token="keep-token", app_secret="keep-secret", verify_token="keep-verify")
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("admin:conversations_channel_change", args=[channel.pk]),
        {
            "name": "Renamed",
            "kind": "whatsapp",
            "display_phone": "+5511955550000",
            "phone_number_id": channel.phone_number_id,
            "access_token": "",
            "app_secret": "",
            "verify_token": "new-verify",
            "default_queue": queue.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    channel.refresh_from_db()
    assert (channel.name, channel.access_token, channel.app_secret, channel.verify_token) == (
        "Renamed",
        "keep-token",
        "keep-secret",
        "new-verify",
    )


def test_whatsapp_channel_needs_its_credentials(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("admin:conversations_channel_add"), {"name": "Bare", "kind": "whatsapp", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "needs" in str(response.context["adminform"].form.errors)
    assert not Channel.objects.exists()


def _changelist_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", ["conversation", "message", "contact", "channel"])
def test_changelists_run_the_same_queries_for_2_and_12_rows(tenant_a, client_for, model):
    tenant_a.org.plan = "enterprise"  # no channel limit
    tenant_a.org.save()
    queue = factories.queue(tenant_a.org, routing_strategy="round_robin")
    cf.online_agent(tenant_a.org, queue=queue)
    channel = cf.channel(tenant_a.org, kind="console", queue=queue)
    client = client_for(tenant_a.admin)
    url = reverse(f"admin:conversations_{model}_changelist")
    from conversations import services

    def add(n):
        for _ in range(n):
            cf.channel(tenant_a.org, kind="console")
            services.inbound_message_receive(channel=channel, phone=cf.phone(), body="hi")

    add(2)
    few = _changelist_queries(client, url)
    add(10)
    assert _changelist_queries(client, url) == few


def test_close_action_goes_through_the_service(tenant_a, client_for):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    open_one, other = cf.conversation(tenant_a.org, queue=queue), cf.conversation(tenant_a.org, queue=queue)
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "close_selected", "_selected_action": [open_one.pk, other.pk]},
        follow=True,
    )
    assert response.status_code == 200
    closed = Conversation.objects.get(pk=open_one.pk)
    assert closed.status == Status.CLOSED and closed.closed_by == tenant_a.admin and closed.closed_at
    # Closing again warns instead of failing.
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "close_selected", "_selected_action": [open_one.pk]},
        follow=True,
    )
    assert "already closed" in response.content.decode()


def test_adding_a_conversation_in_the_admin_opens_it_with_sla(tenant_a, client_for):
    queue = factories.queue(tenant_a.org, routing_strategy="manual", sla_first_response_minutes=15)
    contact = cf.contact(tenant_a.org)
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("admin:conversations_conversation_add"),
        {
            "contact": contact.pk,
            "queue": queue.pk,
            "priority": "high",
            "subject": "From the admin",
            "messages-TOTAL_FORMS": "0",
            "messages-INITIAL_FORMS": "0",
            "messages-MIN_NUM_FORMS": "0",
            "messages-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    conversation = Conversation.objects.get(subject="From the admin")
    assert conversation.organization == tenant_a.org and conversation.first_response_due_at is not None


def test_adding_a_contact_in_the_admin_uses_the_service(
    tenant_a, client_for, recorded_events, django_capture_on_commit_callbacks
):
    vip = cf.tag(tenant_a.org, "VIP")
    client = client_for(tenant_a.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:conversations_contact_add"),
            {
                "name": "Admin Added",
                "phone": "+55 11 98765-0000",
                "email": "",
                "tags": [vip.pk],
                "lifecycle_stage": "lead",
                "opt_in": "unknown",
                "lead_score": 10,
                "custom_fields": "{}",
            },
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    from conversations.models import Contact

    contact = Contact.objects.get(name="Admin Added")
    assert (
        contact.phone == "+5511987650000" and contact.organization == tenant_a.org and list(contact.tags.all()) == [vip]
    )
    assert [e.name for e in recorded_events] == ["contact.created"]


def test_adding_a_channel_or_contact_over_the_plan_in_the_admin_is_a_form_error(client_for):
    from accounts.roles import Role
    from conversations.models import Contact

    org = factories.organization(name="Pequena", plan="free")  # 1 channel, 500 contacts
    admin = factories.member(org, Role.ORG_ADMIN).user
    cf.channel(org, kind="console")
    client = client_for(admin)
    response = client.post(
        reverse("admin:conversations_channel_add"), {"name": "Second", "kind": "console", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "allows up to 1 channels and Pequena already has 1" in str(response.context["adminform"].form.errors)
    assert Channel.objects.filter(organization=org).count() == 1

    Contact.objects.bulk_create([Contact(organization=org, phone=f"+55119{n:08d}") for n in range(500)])
    response = client.post(
        reverse("admin:conversations_contact_add"),
        {
            "name": "One too many",
            "lifecycle_stage": "lead",
            "opt_in": "unknown",
            "lead_score": 0,
            "custom_fields": "{}",
        },
    )
    assert response.status_code == 200
    assert "allows up to 500 contacts and Pequena has 500" in str(response.context["adminform"].form.errors)
    assert not Contact.objects.filter(name="One too many").exists()
