"""The contact panel's services: edits, tags, consent, blocking, custom fields, lead score, bulk actions."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLogEntry
from conversations.campaigns.selectors import segment_contacts
from conversations.contacts import selectors, services
from conversations.contacts.models import CustomFieldKind
from conversations.models import ConsentChange, Contact, OptIn, Tag
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(tenant_a):
    org = tenant_a.org
    return {
        "plan": services.custom_field_create(
            organization=org, key="plan", label="Plan", kind=CustomFieldKind.CHOICE, choices="Basic\nGold\nGold"
        ),
        "budget": services.custom_field_create(organization=org, key="budget", label="Budget", kind="number"),
        "birthday": services.custom_field_create(organization=org, key="birthday", label="Birthday", kind="date"),
        "company": services.custom_field_create(organization=org, key="company", label="Company", kind="text"),
    }


def test_edit_is_audited_and_emits_one_event(tenant_a, fields, recorded_events, django_capture_on_commit_callbacks):
    contact = cf.contact(tenant_a.org, name="Maria")
    with django_capture_on_commit_callbacks(execute=True):
        services.contact_edit(
            contact=contact,
            by=tenant_a.agent,
            name="Maria Souza",
            email=" Maria@Example.COM ",
            lifecycle_stage="customer",
            custom={"plan": "Gold", "budget": "1.234,50", "birthday": "01/03/1990", "company": "ACME"},
        )
    contact.refresh_from_db()
    assert contact.name == "Maria Souza" and contact.email == "maria@example.com"
    assert contact.custom_fields == {"plan": "Gold", "budget": 1234.5, "birthday": "1990-03-01", "company": "ACME"}
    entry = AuditLogEntry.objects.get(action="contact.updated", object_id=str(contact.pk))
    assert entry.actor == tenant_a.agent and entry.changes["name"] == ["Maria", "Maria Souza"]
    assert [e.name for e in recorded_events] == ["contact.updated"]
    assert recorded_events[0].payload["fields"] == ["custom_fields", "email", "lifecycle_stage", "name"]
    # The same values again change nothing and say nothing.
    with django_capture_on_commit_callbacks(execute=True):
        services.contact_edit(contact=contact, by=tenant_a.agent, name="Maria Souza")
    assert len(recorded_events) == 1


@pytest.mark.parametrize(
    "key, raw, message",
    [
        ("plan", "Platinum", "is not a choice"),
        ("budget", "lots", "must be a number"),
        ("birthday", "31/02/2020", "must be a date"),
        ("company", "x" * 501, "at most 500"),
        ("nope", "x", "no custom field"),
    ],
)
def test_custom_values_are_validated_per_type(tenant_a, fields, key, raw, message):
    contact = cf.contact(tenant_a.org)
    with pytest.raises(ValidationError) as caught:
        services.contact_edit(contact=contact, by=tenant_a.agent, custom={key: raw})
    assert message in " ".join(caught.value.message_dict[key])
    contact.refresh_from_db()
    assert contact.custom_fields == {}


def test_empty_value_removes_the_key(tenant_a, fields):
    contact = cf.contact(tenant_a.org, custom_fields={"company": "ACME"})
    services.contact_edit(contact=contact, by=tenant_a.agent, custom={"company": ""})
    contact.refresh_from_db()
    assert contact.custom_fields == {}


def test_choice_field_needs_choices_and_keys_are_unique_per_organization(tenant_a, tenant_b, fields):
    with pytest.raises(ValidationError):
        services.custom_field_create(organization=tenant_a.org, key="tier", label="Tier", kind="choice", choices="")
    with pytest.raises(ValidationError):
        services.custom_field_create(organization=tenant_a.org, key="plan", label="Plan again", kind="text")
    with pytest.raises(ValidationError):
        services.custom_field_create(organization=tenant_a.org, key="Bad Key", label="Bad", kind="text")
    # Another organization may use the same key.
    services.custom_field_create(organization=tenant_b.org, key="plan", label="Plan", kind="text")
    assert fields["plan"].choices == ["Basic", "Gold"]


def test_tags_are_created_on_the_fly_case_insensitively(tenant_a, recorded_events, django_capture_on_commit_callbacks):
    contact = cf.contact(tenant_a.org)
    with django_capture_on_commit_callbacks(execute=True):
        vip = services.contact_tag_add(contact=contact, by=tenant_a.agent, name="  VIP  client ")
        again = services.contact_tag_add(contact=contact, by=tenant_a.agent, name="vip CLIENT")
    assert vip == again and vip.name == "VIP client"
    assert Tag.objects.filter(organization=tenant_a.org).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.contact_tag_remove(contact=contact, by=tenant_a.agent, tag=vip)
    assert not contact.tags.exists()
    actions = list(AuditLogEntry.objects.filter(object_id=str(contact.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["contact.tagged", "contact.untagged"]
    assert [e.name for e in recorded_events] == ["contact.updated", "contact.updated"]


def test_a_tag_of_another_organization_is_refused(tenant_a, tenant_b):
    contact = cf.contact(tenant_a.org)
    foreign = cf.tag(tenant_b.org, "theirs")
    with pytest.raises(ValidationError):
        services.contact_tag_remove(contact=contact, by=tenant_a.agent, tag=foreign)


def test_consent_keeps_its_source_in_the_history(tenant_a):
    contact = cf.contact(tenant_a.org)
    services.contact_consent_set(contact=contact, by=tenant_a.agent, opt_in=OptIn.OPTED_IN, source="form")
    contact.refresh_from_db()
    assert (contact.opt_in, contact.opt_in_source) == (OptIn.OPTED_IN, "form")
    change = ConsentChange.objects.get(contact=contact)
    assert (change.value, change.source, change.by) == ("opted_in", "form", tenant_a.agent)
    with pytest.raises(ValidationError):
        services.contact_consent_set(contact=contact, by=tenant_a.agent, opt_in="maybe")
    with pytest.raises(ValidationError):  # an inbound keyword is the customer's, not a person's pick
        services.contact_consent_set(contact=contact, by=tenant_a.agent, opt_in="opted_out", source="inbound_keyword")


def test_block_and_lead_score(tenant_a):
    contact = cf.contact(tenant_a.org, lifecycle_stage="customer", email="a@b.test")
    score = selectors.lead_score(contact)
    assert score.score == 45 + 5 and [points for _what, points in score.factors] == [45, 5]
    services.contact_consent_set(contact=contact, by=tenant_a.agent, opt_in=OptIn.OPTED_IN)
    contact.refresh_from_db()
    assert contact.lead_score == 60
    services.contact_block_set(contact=contact, by=tenant_a.agent, blocked=True)
    contact.refresh_from_db()
    assert contact.is_blocked and contact.lead_score == 0
    assert AuditLogEntry.objects.filter(action="contact.blocked", object_id=str(contact.pk)).exists()


def test_bulk_actions_cover_the_whole_filtered_set(tenant_a, tenant_b):
    org = tenant_a.org
    mine = [cf.contact(org, lifecycle_stage="lead") for _ in range(5)]
    other_stage = cf.contact(org, lifecycle_stage="customer")
    foreign = cf.contact(tenant_b.org, lifecycle_stage="lead")
    leads = segment_contacts(organization=org, filters={"lifecycle_stages": ["lead"]})
    assert services.contacts_bulk_tag(organization=org, contacts=leads, by=tenant_a.agent, name="Promo") == 5
    tag = Tag.objects.get(organization=org, name="Promo")
    assert set(tag.contacts.all()) == set(mine)
    # A queryset of another organization's contacts is cut to this one.
    everyone = Contact.objects.all()
    assert services.contacts_bulk_opt_out(organization=org, contacts=everyone, by=tenant_a.agent) == 6
    foreign.refresh_from_db()
    other_stage.refresh_from_db()
    assert foreign.opt_in == OptIn.UNKNOWN and other_stage.opt_in == OptIn.OPTED_OUT
    assert ConsentChange.objects.filter(organization=org, value="opted_out", source="agent").count() == 6
    assert services.contacts_bulk_untag(organization=org, contacts=leads, by=tenant_a.agent, tag=tag) == 5
    assert AuditLogEntry.objects.filter(organization=org, action__startswith="contacts.bulk_").count() == 3


def test_segment_filters_search_custom_fields_and_consent(tenant_a, fields):
    org = tenant_a.org
    ana = cf.contact(org, name="Ana Paula", phone="+5511987650011", custom_fields={"plan": "Gold"})
    cf.contact(org, name="Bruno", phone="+5511987650022", email="bruno@x.test")
    assert list(segment_contacts(organization=org, filters={"q": "pau"})) == [ana]
    assert list(segment_contacts(organization=org, filters={"q": "0011"})) == [ana]
    assert segment_contacts(organization=org, filters={"q": "bruno@x"}).get().name == "Bruno"
    assert list(segment_contacts(organization=org, filters={"custom": {"plan": "Gold"}})) == [ana]
    assert segment_contacts(organization=org, filters={"consent": "unknown"}).count() == 2
    filters = selectors.ContactFilters.from_query({"field": "plan", "value": "Gold", "stage": "lead", "page": "x"})
    assert filters.as_segment({"plan": fields["plan"]}) == {"lifecycle_stages": ["lead"], "custom": {"plan": "Gold"}}
    assert selectors.ContactFilters.from_segment(filters.as_segment()).field_value == "Gold"
