from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from conversations import services
from conversations.models import Contact, OptIn, normalize_phone
from tests.conversations import factories as cf
from tests.conversations.conftest import names


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+55 11 98765-4321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_phone_numbers_are_stored_in_e164(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "hello", "+55 11", "+999 123", "12"])
def test_invalid_phone_numbers_are_refused_with_a_clear_message(raw):
    with pytest.raises(ValidationError) as error:
        normalize_phone(raw)
    assert "phone" in " ".join(error.value.messages).lower()


@pytest.mark.django_db
def test_contact_create_normalizes_validates_and_emits(tenant_a, recorded_events, django_capture_on_commit_callbacks):
    vip = cf.tag(tenant_a.org, "VIP")
    with django_capture_on_commit_callbacks(execute=True):
        contact = services.contact_create(
            organization=tenant_a.org,
            name="Maria",
            phone="+55 (11) 98765-4321",
            email="Maria@Example.com",
            tags=[vip],
            lifecycle_stage="customer",
            opt_in=OptIn.OPTED_IN,
            lead_score=80,
            custom_fields={"cpf": "123", "age": 40},
        )
    assert contact.phone == "+5511987654321"
    assert contact.email == "maria@example.com"
    assert list(contact.tags.all()) == [vip]
    assert contact.opt_in_changed_at is not None
    assert names(recorded_events) == ["contact.created"]
    assert recorded_events[0].payload == {"contact_id": contact.pk}
    assert recorded_events[0].organization_id == tenant_a.org.pk


@pytest.mark.django_db
def test_phone_unique_per_organization_only(tenant_a, tenant_b):
    services.contact_create(organization=tenant_a.org, phone="+5511987654321")
    with pytest.raises(ValidationError) as error:
        services.contact_create(organization=tenant_a.org, phone="5511987654321")
    assert "already exists" in str(error.value)
    services.contact_create(organization=tenant_b.org, phone="+5511987654321")
    # Contacts without a phone do not collide with each other.
    services.contact_create(organization=tenant_a.org, name="No phone 1")
    services.contact_create(organization=tenant_a.org, name="No phone 2")
    assert Contact.objects.for_organization(tenant_a.org).count() == 3


@pytest.mark.django_db
def test_contact_field_rules(tenant_a, tenant_b):
    with pytest.raises(ValidationError):
        services.contact_create(organization=tenant_a.org)  # nothing to identify them
    with pytest.raises(ValidationError):
        services.contact_create(organization=tenant_a.org, name="x", lead_score=101)
    with pytest.raises(ValidationError):
        services.contact_create(organization=tenant_a.org, name="x", custom_fields={"nested": {"a": 1}})
    with pytest.raises(ValidationError):
        services.contact_create(organization=tenant_a.org, name="x", email="not-an-email")
    foreign_tag = cf.tag(tenant_b.org)
    with pytest.raises(ValidationError, match="another organization"):
        services.contact_create(organization=tenant_a.org, name="x", tags=[foreign_tag])


@pytest.mark.django_db
def test_get_or_create_by_phone_finds_the_same_contact(tenant_a):
    first, created = services.contact_get_or_create_by_phone(
        organization=tenant_a.org, phone="5511912345678", name="Ana"
    )
    again, created_again = services.contact_get_or_create_by_phone(organization=tenant_a.org, phone="+55 11 91234-5678")
    assert created and not created_again and first.pk == again.pk


@pytest.mark.django_db
def test_update_opt_in_and_block(tenant_a):
    contact = cf.contact(tenant_a.org)
    services.contact_update(contact=contact, name="Renamed", lifecycle_stage="opportunity", phone="+14155552671")
    contact.refresh_from_db()
    assert (contact.name, contact.phone) == ("Renamed", "+14155552671")
    with pytest.raises(ValidationError):
        services.contact_update(contact=contact, organization_id=999)
    services.contact_set_opt_in(contact=contact, opt_in=OptIn.OPTED_OUT)
    services.contact_set_blocked(contact=contact, blocked=True)
    contact.refresh_from_db()
    assert contact.opt_in == OptIn.OPTED_OUT and contact.is_blocked and not contact.may_receive_messages


@pytest.mark.django_db
def test_plan_contact_limit_is_a_clear_error_but_never_drops_inbound_messages():
    from tests import factories

    org = factories.organization(plan="free")  # 500 contacts
    Contact.objects.bulk_create([Contact(organization=org, phone=f"+55119{n:08d}") for n in range(500)])
    with pytest.raises(ValidationError, match="allows up to 500 contacts"):
        services.contact_create(organization=org, name="One too many")
    channel = cf.channel(org, kind="console")
    message = services.inbound_message_receive(channel=channel, phone="+5511987659999", body="hi").message
    assert message.conversation.contact.phone == "+5511987659999"


@pytest.mark.django_db
def test_plan_channel_limit():
    from tests import factories

    org = factories.organization(plan="free")  # 1 channel
    cf.channel(org, kind="console")
    with pytest.raises(ValidationError, match="allows up to 1 channels"):
        cf.channel(org, kind="console")
