"""The audit log: services and the tenant admin record who did what, with before/after; org admins read it."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from accounts import audit
from accounts.models import AuditLogEntry, Department
from conversations import services as conversation_services
from notifications import services as notification_services
from tests import factories
from tests.conversations import factories as cf
from tests.notifications.test_views import _form_data

pytestmark = pytest.mark.django_db


def _entries(org, action):
    return list(AuditLogEntry.objects.for_organization(org).filter(action=action).order_by("id"))


def test_assignment_through_the_inbox_is_recorded_with_the_actor(tenant_a, client_for):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    conversation = cf.conversation(tenant_a.org, queue=queue)
    agent = tenant_a.agent.memberships.get(organization=tenant_a.org)

    response = client_for(tenant_a.admin).post(
        reverse("inbox:act", args=[conversation.pk]), {"action": "assign", "agent": agent.pk}
    )
    assert response.status_code == 302

    [entry] = _entries(tenant_a.org, "conversation.assigned")
    assert entry.actor == tenant_a.admin
    assert entry.object_id == str(conversation.pk)
    assert entry.content_type.model == "conversation"
    assert entry.changes == {"assignee": [None, agent.pk]}


def test_transfer_records_queue_and_agent_before_and_after(tenant_a):
    first, second = factories.queue(tenant_a.org, routing_strategy="manual"), factories.queue(tenant_a.org)
    agent = tenant_a.agent.memberships.get(organization=tenant_a.org)
    conversation = cf.conversation(tenant_a.org, queue=first)
    conversation_services.conversation_assign(conversation=conversation, membership=agent, by=tenant_a.admin)
    admin_membership = tenant_a.admin.memberships.get(organization=tenant_a.org)

    conversation_services.conversation_transfer(
        conversation=conversation, by=tenant_a.agent, to_queue=second, to_membership=admin_membership, reason="VIP"
    )

    [entry] = _entries(tenant_a.org, "conversation.transferred")
    assert entry.actor == tenant_a.agent
    assert entry.changes == {"assignee": [agent.pk, admin_membership.pk], "queue": [first.pk, second.pk]}
    assert entry.metadata == {"reason": "VIP"}


def test_a_preference_change_on_the_settings_page_is_recorded(tenant_a, client_for):
    pref = notification_services.preference_ensure(organization=tenant_a.org, user=tenant_a.agent)
    assert pref.max_emails_per_hour != 42
    before = pref.max_emails_per_hour

    response = client_for(tenant_a.agent).post(
        reverse("notifications:preferences"), _form_data(pref, max_emails_per_hour="42")
    )
    assert response.status_code == 302

    [entry] = _entries(tenant_a.org, "notification_preference.updated")
    assert entry.actor == tenant_a.agent
    assert entry.changes["max_emails_per_hour"] == [before, 42]


def test_an_admin_edit_records_the_actor_and_changed_fields(tenant_a, client_for):
    department = factories.department(tenant_a.org, name="Support")
    response = client_for(tenant_a.admin).post(
        reverse("admin:accounts_department_change", args=[department.pk]),
        {
            "name": "Customer care",
            "description": "",
            "is_active": "on",
            "queues-TOTAL_FORMS": "0",
            "queues-INITIAL_FORMS": "0",
            "queues-MIN_NUM_FORMS": "0",
            "queues-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors

    [entry] = _entries(tenant_a.org, "admin.change")
    assert entry.actor == tenant_a.admin
    assert entry.object_repr == "Customer care"
    assert entry.changes == {"name": ["Support", "Customer care"]}
    assert entry.metadata == {"model": "accounts.Department"}


def test_admin_additions_and_deletions_are_recorded(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    response = client.post(reverse("admin:accounts_skill_add"), {"name": "Spanish"})
    assert response.status_code == 302
    [added] = _entries(tenant_a.org, "admin.add")
    assert added.actor == tenant_a.admin and added.changes == {"name": [None, "Spanish"]}

    response = client.post(reverse("admin:accounts_skill_delete", args=[added.object_id]), {"post": "yes"})
    assert response.status_code == 302
    [deleted] = _entries(tenant_a.org, "admin.delete")
    assert deleted.actor == tenant_a.admin and deleted.object_repr == "Spanish"


def test_an_entry_rolls_back_with_its_action(tenant_a):
    conversation = cf.conversation(tenant_a.org)
    with pytest.raises(RuntimeError), transaction.atomic():
        conversation_services.conversation_set_priority(conversation=conversation, priority="urgent", by=tenant_a.admin)
        raise RuntimeError("the action fails after the service")
    assert not _entries(tenant_a.org, "conversation.priority_changed")

    conversation_services.conversation_set_priority(conversation=conversation, priority="urgent", by=tenant_a.admin)
    [entry] = _entries(tenant_a.org, "conversation.priority_changed")
    assert entry.changes == {"priority": ["medium", "urgent"]}


def test_role_changes_and_contact_edits_are_recorded(tenant_a):
    membership = tenant_a.viewer.memberships.get(organization=tenant_a.org)
    factories.services.membership_set_role(membership=membership, role="agent", by=tenant_a.admin)
    [role] = _entries(tenant_a.org, "membership.role_changed")
    assert role.actor == tenant_a.admin and role.changes == {"role": ["viewer", "agent"]}

    contact = cf.contact(tenant_a.org, name="Ana")
    conversation_services.contact_update(contact=contact, by=tenant_a.agent, name="Ana Paula", email="")
    [edit] = _entries(tenant_a.org, "contact.updated")
    assert edit.actor == tenant_a.agent and edit.changes == {"name": ["Ana", "Ana Paula"]}


def test_org_admins_read_only_their_own_log_without_changing_it(tenant_a, tenant_b, client_for):
    own = audit.record(organization=tenant_a.org, actor=tenant_a.admin, action="test.own", obj=tenant_a.org)
    foreign = audit.record(organization=tenant_b.org, actor=tenant_b.admin, action="test.foreign", obj=tenant_b.org)
    client = client_for(tenant_a.admin)

    response = client.get(reverse("admin:accounts_auditlogentry_changelist"), {"action": "test.own"})
    assert response.status_code == 200
    assert [e.pk for e in response.context["cl"].result_list] == [own.pk]
    filters = response.content.decode()
    assert tenant_b.admin.email not in filters and "test.foreign" not in filters

    response = client.get(reverse("admin:accounts_auditlogentry_changelist"), {"actor__id__exact": tenant_a.admin.pk})
    assert own.pk in {e.pk for e in response.context["cl"].result_list}

    assert client.get(reverse("admin:accounts_auditlogentry_change", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("admin:accounts_auditlogentry_add")).status_code == 403
    response = client.post(reverse("admin:accounts_auditlogentry_change", args=[own.pk]), {"action": "forged"})
    assert response.status_code == 403
    assert (
        client.post(reverse("admin:accounts_auditlogentry_delete", args=[own.pk]), {"post": "yes"}).status_code == 403
    )
    own.refresh_from_db()
    assert own.action == "test.own"
    assert Department.objects.count() == 0  # nothing else was touched


def test_a_super_admins_edit_of_a_user_goes_to_each_of_their_organizations(tenant_a, tenant_b, superuser, client_for):
    shared = factories.member(tenant_a.org, email="shared@x.test", full_name="Old Name").user
    factories.services.membership_create(organization=tenant_b.org, user=shared)
    response = client_for(superuser).post(
        reverse("admin:accounts_user_change", args=[shared.pk]),
        {
            "email": "shared@x.test",
            "full_name": "New Name",
            "language": "pt-br",
            "time_zone": "",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    for org in (tenant_a.org, tenant_b.org):
        [entry] = _entries(org, "admin.change")
        assert entry.actor == superuser and entry.changes["full_name"] == ["Old Name", "New Name"]
    assert "password" not in _entries(tenant_a.org, "admin.change")[0].changes


def test_inline_rows_changed_in_the_admin_are_recorded_too(tenant_a, client_for):
    department = factories.department(tenant_a.org, name="Support")
    queue = factories.queue(tenant_a.org, dept=department, name="Tier 1")
    response = client_for(tenant_a.admin).post(
        reverse("admin:accounts_department_change", args=[department.pk]),
        {
            "name": "Support",
            "description": "",
            "is_active": "on",
            "queues-TOTAL_FORMS": "1",
            "queues-INITIAL_FORMS": "1",
            "queues-0-id": queue.pk,
            "queues-0-department": department.pk,
            "queues-0-name": "Tier 2",
            "queues-0-priority": queue.priority,
            "queues-0-routing_strategy": queue.routing_strategy,
            "queues-0-is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    [entry] = _entries(tenant_a.org, "admin.change")
    assert entry.metadata == {"model": "accounts.Queue"} and entry.changes == {"name": ["Tier 1", "Tier 2"]}
    assert entry.object_id == str(queue.pk) and entry.actor == tenant_a.admin


def test_consent_changes_and_resends_by_a_person_are_recorded(tenant_a):
    from tests.notifications import factories as nf

    contact = cf.contact(tenant_a.org)
    conversation_services.contact_set_opt_in(contact=contact, opt_in="opted_out", by=tenant_a.agent)
    [consent] = _entries(tenant_a.org, "contact.opt_in_changed")
    assert consent.actor == tenant_a.agent and consent.changes["opt_in"][1] == "opted_out"
    conversation_services.contact_set_opt_in(contact=contact, opt_in="opted_in", source="inbound_keyword")
    assert len(_entries(tenant_a.org, "contact.opt_in_changed")) == 1  # the customer's own: no actor, no entry

    row = nf.log(tenant_a.org)
    type(row).objects.filter(pk=row.pk).update(status="failed")
    row.refresh_from_db()
    copy = notification_services.notification_resend(log=row, by=tenant_a.admin)
    [resent] = _entries(tenant_a.org, "notification.resent")
    assert resent.actor == tenant_a.admin and resent.object_id == str(row.pk)
    assert resent.metadata == {"new_log_id": copy.pk, "status": "failed"}
