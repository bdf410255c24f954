import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import Membership
from pytake import events
from tests import factories


@pytest.fixture
def offline_events():
    seen = []

    @events.listener("agent.offline")
    def record(event):
        seen.append(event)

    yield seen
    events._listeners["agent.offline"].remove(record)


@pytest.mark.django_db(transaction=True)
def test_going_offline_dispatches_agent_offline_once(tenant_a, offline_events):
    membership = Membership.objects.get(user=tenant_a.agent)
    services.agent_set_status(membership=membership, status="online")
    assert offline_events == []
    services.agent_set_status(membership=membership, status="offline")
    services.agent_set_status(membership=membership, status="offline")
    assert len(offline_events) == 1
    assert offline_events[0].organization_id == tenant_a.org.pk
    assert offline_events[0].payload == {"user_id": tenant_a.agent.pk, "membership_id": membership.pk}


@pytest.mark.django_db
def test_viewers_have_no_status_and_unknown_status_is_refused(tenant_a):
    with pytest.raises(ValidationError):
        services.agent_set_status(membership=Membership.objects.get(user=tenant_a.viewer), status="online")
    with pytest.raises(ValidationError):
        services.agent_set_status(membership=Membership.objects.get(user=tenant_a.agent), status="sleeping")


@pytest.mark.django_db
def test_member_add_checks_the_plan_limit_and_duplicates():
    org = factories.organization(plan="free")
    for _ in range(3):
        factories.member(org)
    with pytest.raises(ValidationError, match="allows up to 3 users"):
        factories.member(org)
    other = factories.organization()
    existing = factories.member(other, email="twice@x.test")
    with pytest.raises(ValidationError, match="already a member"):
        services.member_add(organization=other, email="TWICE@x.test")
    # An existing user joins a second organization with their same account.
    membership = services.member_add(organization=factories.organization(), email="twice@x.test", role="viewer")
    assert membership.user == existing.user


@pytest.mark.django_db
def test_queue_validation_messages():
    org = factories.organization()
    dept = factories.department(org)
    with pytest.raises(ValidationError) as error:
        services.queue_create(
            department=dept, name="Q", sla_first_response_minutes=60, sla_resolution_minutes=30, color="blue"
        )
    assert set(error.value.message_dict) == {"sla_resolution_minutes", "color"}
