"""Each resource through the API does what its page does (through the same services)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from accounts.models import AuditLogEntry
from conversations.campaigns import services as campaign_services
from conversations.models import ConsentChange, Contact, Conversation
from notifications import services as notification_services
from scheduling.models import Appointment
from tests.campaigns import builders
from tests.conversations import factories as cf
from tests.scheduling import factories as sf


def test_contacts_crud_search_tags_and_consent(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.admin)
    tag = api.post("/api/v1/tags/", {"name": "VIP", "color": "#ff0000"}).json()
    created = api.post(
        "/api/v1/contacts/", {"name": "Maria Souza", "phone": "+55 11 98765-4321", "tag_ids": [tag["id"]]}
    ).json()
    assert created["phone"] == "+5511987654321" and created["tags"][0]["name"] == "VIP"
    assert [c["id"] for c in api.get("/api/v1/contacts/", {"q": "mar"}).json()["results"]] == [created["id"]]
    assert [c["id"] for c in api.get("/api/v1/contacts/", {"q": "4321"}).json()["results"]] == [created["id"]]
    assert api.get("/api/v1/contacts/", {"tag": tag["id"] + 1000}).json()["results"] == []
    duplicate = api.post("/api/v1/contacts/", {"phone": "+5511987654321"})
    assert duplicate.status_code == 422
    changed = api.patch(
        f"/api/v1/contacts/{created['id']}/", {"lifecycle_stage": "customer", "is_blocked": True}
    ).json()
    assert changed["lifecycle_stage"] == "customer" and changed["is_blocked"] is True
    assert AuditLogEntry.objects.filter(action="contact.updated", actor=tenant_a.admin).exists()
    consent = api.post(f"/api/v1/contacts/{created['id']}/consent/", {"opt_in": "opted_out", "note": "asked by phone"})
    assert consent.json()["opt_in"] == "opted_out" and consent.json()["opt_in_source"] == "api"
    assert ConsentChange.objects.get(contact_id=created["id"]).note == "asked by phone"
    assert api.delete(f"/api/v1/contacts/{created['id']}/").status_code == 204
    assert not Contact.objects.filter(pk=created["id"]).exists()


def test_only_admins_delete_contacts(tenant_a, api_for):
    contact = cf.contact(tenant_a.org)
    assert api_for(tenant_a.org, tenant_a.agent).delete(f"/api/v1/contacts/{contact.pk}/").status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_conversation_actions_through_the_inbox_services(tenant_a, api_for):
    from tests import factories

    queue = factories.queue(tenant_a.org)
    conversation = cf.conversation(tenant_a.org)
    other = Conversation.objects.get(pk=cf.conversation(tenant_a.org).pk)
    api = api_for(tenant_a.org, tenant_a.agent)
    agent_membership = tenant_a.agent.memberships.get(organization=tenant_a.org)
    admin_membership = tenant_a.admin.memberships.get(organization=tenant_a.org)
    assert (
        api.post(f"/api/v1/conversations/{conversation.pk}/assign/", {"agent_id": agent_membership.pk}).status_code
        == 200
    )
    assert (
        api.post(f"/api/v1/conversations/{conversation.pk}/priority/", {"priority": "urgent"}).json()["priority"]
        == "urgent"
    )
    moved = api.post(
        f"/api/v1/conversations/{conversation.pk}/transfer/", {"queue_id": queue.pk, "agent_id": admin_membership.pk}
    ).json()
    assert moved["queue_id"] == queue.pk and moved["assignee"]["id"] == admin_membership.pk
    assert api.post(f"/api/v1/conversations/{conversation.pk}/transfer/", {}).status_code == 400
    assert api.post(f"/api/v1/conversations/{conversation.pk}/close/").json()["status"] == "closed"
    assert api.post(f"/api/v1/conversations/{conversation.pk}/reopen/").json()["status"] == "open"
    listed = api.get("/api/v1/conversations/", {"priority": "urgent"}).json()["results"]
    assert [c["id"] for c in listed] == [conversation.pk]
    assert other.pk not in [c["id"] for c in listed]
    assert api.get("/api/v1/conversations/", {"status": "nope"}).status_code == 400
    assert api.get("/api/v1/conversations/", {"view": "unassigned"}).json()["results"][0]["id"] == other.pk
    bodies = [m["body"] for m in api.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]]
    assert bodies  # the transfer left a system message


def test_templates_are_listed_and_sent_in_a_conversation_or_to_a_phone(tenant_a, api_for):
    channel = cf.channel(tenant_a.org)
    template = builders.approved_template(tenant_a.org, channel, category="utility")
    api = api_for(tenant_a.org, tenant_a.admin)
    listed = api.get("/api/v1/templates/", {"status": "approved"}).json()["results"]
    assert [t["id"] for t in listed] == [template.pk]
    started = api.post(
        f"/api/v1/templates/{template.pk}/send/",
        {"phone": "+5511955554444", "name": "Novo", "values": {"body.1": "Ana", "body.2": "10%"}},
    )
    assert started.status_code == 201, started.json()
    conversation = Conversation.objects.get(pk=started.json()["id"])
    assert conversation.contact.phone == "+5511955554444"
    assert conversation.messages.filter(kind="template").count() == 1
    again = api.post(
        f"/api/v1/templates/{template.pk}/send/",
        {"conversation_id": conversation.pk, "values": {"body.1": "Ana", "body.2": "5%"}},
    )
    assert again.status_code == 201 and conversation.messages.filter(kind="template").count() == 2
    assert api.post(f"/api/v1/templates/{template.pk}/send/", {}).status_code == 400


def test_a_campaign_from_draft_to_cancelled(tenant_a, api_for):
    channel = cf.channel(tenant_a.org)
    template = builders.approved_template(tenant_a.org, channel)
    for _ in range(3):
        builders.consenting_contact(tenant_a.org)
    api = api_for(tenant_a.org, tenant_a.admin)
    draft = api.post(
        "/api/v1/campaigns/",
        {
            "name": "Black Friday",
            "channel_id": channel.pk,
            "template_id": template.pk,
            "audience_type": "all",
            "variable_mapping": builders.MAPPING,
        },
    )
    assert draft.status_code == 201, draft.json()
    pk = draft.json()["id"]
    preview = api.get(f"/api/v1/campaigns/{pk}/preview/").json()
    assert preview["audience"] == 3 and preview["eligible"] + sum(preview["excluded"].values()) == 3
    assert api.patch(f"/api/v1/campaigns/{pk}/", {"messages_per_minute": 30}).json()["messages_per_minute"] == 30
    assert api.post(f"/api/v1/campaigns/{pk}/start/").json()["status"] == "running"
    campaign_services.campaign_freeze(campaign_id=pk)  # what the worker's first dispatch does
    assert api.patch(f"/api/v1/campaigns/{pk}/", {"name": "late"}).status_code == 422
    assert api.post(f"/api/v1/campaigns/{pk}/pause/", {"reason": "checking"}).json()["status"] == "paused"
    assert api.post(f"/api/v1/campaigns/{pk}/resume/").json()["status"] == "running"
    metrics = api.get(f"/api/v1/campaigns/{pk}/metrics/").json()
    assert metrics["audience"] == 3
    assert api.post(f"/api/v1/campaigns/{pk}/cancel/").json()["status"] == "cancelled"
    assert api.delete(f"/api/v1/campaigns/{pk}/").status_code == 422
    other = api.post("/api/v1/campaigns/", {"name": "Draft", "template_id": 999999}).json()
    assert other["errors"][0]["field"] == "template_id"


def test_an_agent_may_not_manage_campaigns_unless_allowed(tenant_a, api_for):
    answer = api_for(tenant_a.org, tenant_a.agent).post("/api/v1/campaigns/", {"name": "Mine"})
    assert answer.status_code == 403


def test_scheduling_availability_booking_cancel_and_reschedule(tenant_a, api_for):
    provider = sf.provider(tenant_a.org, role="org_admin")
    service = sf.service(tenant_a.org, providers=[provider], duration=60)
    day = sf.future_day(8)
    api = api_for(tenant_a.org, provider.user)
    slots = api.get(
        f"/api/v1/scheduling/services/{service.pk}/availability/",
        {"date_from": day.isoformat(), "date_to": day.isoformat()},
    ).json()
    assert slots and slots[0]["provider_id"] == provider.pk
    start = slots[0]["start"]
    booked = api.post(
        "/api/v1/scheduling/appointments/",
        {
            "service_id": service.pk,
            "provider_id": provider.pk,
            "start": start,
            "customer_name": "Ana",
            "customer_phone": "+5511944443333",
        },
    )
    assert booked.status_code == 201, booked.json()
    taken = api.post(
        "/api/v1/scheduling/appointments/",
        {
            "service_id": service.pk,
            "provider_id": provider.pk,
            "start": start,
            "customer_name": "Bia",
            "customer_phone": "+5511944442222",
        },
    )
    assert taken.status_code == 409 and taken.json()["type"].startswith("urn:pytake:problem:")
    moved = api.post(f"/api/v1/scheduling/appointments/{booked.json()['id']}/reschedule/", {"start": slots[2]["start"]})
    assert moved.status_code == 201, moved.json()
    assert moved.json()["rescheduled_from_id"] == booked.json()["id"]
    cancelled = api.post(f"/api/v1/scheduling/appointments/{moved.json()['id']}/cancel/", {"reason": "sick"})
    assert cancelled.json()["status"] == "cancelled"
    assert Appointment.objects.get(pk=moved.json()["id"]).cancellation_reason == "sick"
    too_long = api.get(
        f"/api/v1/scheduling/services/{service.pk}/availability/",
        {"date_from": day.isoformat(), "date_to": (day + datetime.timedelta(days=400)).isoformat()},
    )
    assert too_long.status_code == 400


def test_an_agent_acts_only_on_the_appointments_they_provide(tenant_a, api_for):
    appointment = sf.appointment(tenant_a.org)  # another provider's
    api = api_for(tenant_a.org, tenant_a.agent)
    assert api.get(f"/api/v1/scheduling/appointments/{appointment.pk}/").status_code == 404
    assert api.post(f"/api/v1/scheduling/appointments/{appointment.pk}/cancel/").status_code == 404
    viewer = api_for(tenant_a.org, tenant_a.viewer)
    assert viewer.get(f"/api/v1/scheduling/appointments/{appointment.pk}/").status_code == 200
    assert viewer.post(f"/api/v1/scheduling/appointments/{appointment.pk}/cancel/").status_code == 403


def test_notifications_list_mark_read_and_preferences(tenant_a, api_for):
    notification_services.notify(
        organization=tenant_a.org, event_type="custom", recipients=[tenant_a.viewer], context={"message": "Olá"}
    )
    api = api_for(tenant_a.org, tenant_a.viewer)  # a viewer reads and keeps their own notifications
    unread = api.get("/api/v1/notifications/", {"unread": "true"}).json()["results"]
    assert len(unread) == 1
    assert api.post(f"/api/v1/notifications/{unread[0]['id']}/read/").json()["unread"] is False
    assert api.get("/api/v1/notifications/", {"unread": "true"}).json()["results"] == []
    assert api.post("/api/v1/notifications/read-all/").json() == {"marked": 0}
    preference = api.patch(
        "/api/v1/notifications/preferences/",
        {"quiet_hours_enabled": True, "quiet_hours_start": "21:30", "event_types": {"new_contact": False}},
    ).json()
    assert preference["quiet_hours_start"] == "21:30:00" and preference["event_types"]["new_contact"] is False
    refused = api.patch(
        "/api/v1/notifications/preferences/", {"quiet_hours_start": "08:00", "quiet_hours_end": "08:00"}
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "quiet_hours_end"
    others = api_for(tenant_a.org, tenant_a.agent).get("/api/v1/notifications/").json()["results"]
    assert others == []


def test_organization_usage(tenant_a, api_for):
    usage = api_for(tenant_a.org, tenant_a.admin).get("/api/v1/organization/usage/").json()
    assert usage["plan"] == tenant_a.org.plan
    assert {row["resource"] for row in usage["resources"]} >= {"users", "contacts", "messages"}
    assert len(usage["months"]) == 6


def test_a_read_only_organization_refuses_writes(tenant_a, api_for):
    from accounts.models import Organization

    Organization.objects.filter(pk=tenant_a.org.pk).update(trial_ends_at=timezone.now() - datetime.timedelta(days=1))
    api = api_for(tenant_a.org, tenant_a.admin)
    refused = api.post("/api/v1/contacts/", {"name": "Ana"})
    assert refused.status_code == 403 and refused.json()["type"] == "urn:pytake:problem:read_only"
    assert api.get("/api/v1/contacts/").status_code == 200


def test_the_conversation_list_runs_the_same_queries_with_10_and_60_conversations(tenant_a, api_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_for(tenant_a.org, tenant_a.agent)
    api.get("/api/v1/me/")  # the token's last use is recorded once a minute: not in the counts below
    tag = cf.tag(tenant_a.org)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/conversations/", {"page_size": 50}).status_code == 200
        return len(queries)

    for _ in range(10):
        cf.conversation(tenant_a.org).contact.tags.add(tag)
    few = count()
    for _ in range(50):
        cf.conversation(tenant_a.org).contact.tags.add(tag)
    assert count() == few <= 6
