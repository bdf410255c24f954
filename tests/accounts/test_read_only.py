"""A trial that ended without a plan: the organization is read-only with a banner, writes through the
UI are refused with a clear message, and customer messages are still stored."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Department, Organization
from accounts.tenancy import read_only_message
from conversations.models import Conversation, Message
from tests import factories
from tests.conversations import factories as cf
from tests.conversations.test_webhook import post, text_payload

BANNER = "without a plan, so the organization is read-only"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _expire_trial(org) -> None:
    Organization.objects.filter(pk=org.pk).update(trial_ends_at=timezone.now() - dt.timedelta(hours=1))
    org.refresh_from_db()


@pytest.mark.django_db
def test_only_an_ended_trial_without_a_plan_is_read_only(tenant_a):
    assert tenant_a.org.in_trial and not tenant_a.org.is_read_only
    Organization.objects.filter(pk=tenant_a.org.pk).update(trial_ends_at=None)  # a plan was chosen
    tenant_a.org.refresh_from_db()
    assert not tenant_a.org.is_read_only and read_only_message(tenant_a.org) is None
    _expire_trial(tenant_a.org)
    assert tenant_a.org.is_read_only
    assert tenant_a.org.name in read_only_message(tenant_a.org)


@pytest.mark.django_db
def test_pages_still_open_with_a_banner_in_both_languages(tenant_a, client_for):
    _expire_trial(tenant_a.org)
    client = client_for(tenant_a.agent)
    for url in (reverse("dashboard"), reverse("inbox:index")):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        assert BANNER in response.content.decode()
        assert 'id="read-only-banner"' in response.content.decode()
    response = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="pt-br")
    assert "somente leitura" in response.content.decode()
    other = factories.organization()
    response = client_for(factories.member(other).user).get(reverse("dashboard"))
    assert 'id="read-only-banner"' not in response.content.decode()


@pytest.mark.django_db
def test_writes_through_the_ui_get_a_clear_403_and_change_nothing(tenant_a, client_for):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    conversation = cf.conversation(tenant_a.org, queue=queue)
    _expire_trial(tenant_a.org)
    client = client_for(tenant_a.admin)

    response = client.post(reverse("inbox:act", args=[conversation.pk]), {"action": "close"})
    assert response.status_code == 403
    assert "This organization is read-only" in response.content.decode() and BANNER in response.content.decode()

    response = client.post(reverse("inbox:act", args=[conversation.pk]), {"action": "close"}, **HTMX)
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#read-only-banner" and response["X-PyTake-Read-Only"] == "1"
    html = response.content.decode()
    assert "<html" not in html and 'id="read-only-banner"' in html and BANNER in html
    assert Conversation.objects.get(pk=conversation.pk).status == "open"

    department = factories.department(tenant_a.org, name="Support")
    response = client.post(
        reverse("admin:accounts_department_change", args=[department.pk]), {"name": "Renamed", "is_active": "on"}
    )
    assert response.status_code == 403
    assert Department.objects.get(pk=department.pk).name == "Support"


@pytest.mark.django_db
def test_leaving_switching_and_the_language_still_work_and_super_admins_are_not_refused(
    tenant_a, tenant_b, client_for, superuser
):
    _expire_trial(tenant_a.org)
    factories.services.membership_create(organization=tenant_b.org, user=tenant_a.agent)
    client = client_for(tenant_a.agent)
    assert client.post(reverse("set_language"), {"language": "en", "next": "/"}).status_code == 302
    response = client.post(reverse("accounts:switch"), {"organization": tenant_b.org.pk, "next": "/"})
    assert response.status_code == 302
    assert 'id="read-only-banner"' not in client.get(reverse("dashboard")).content.decode()
    assert client.post(reverse("accounts:logout")).status_code == 302

    department = factories.department(tenant_a.org, name="Support")
    root = client_for(superuser)
    root.post(reverse("accounts:switch"), {"organization": tenant_a.org.pk, "next": "/"})
    response = root.post(
        reverse("admin:accounts_department_change", args=[department.pk]),
        {
            "name": "Fixed by the operator",
            "organization": tenant_a.org.pk,
            "is_active": "on",
            "queues-TOTAL_FORMS": "0",
            "queues-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert Department.objects.get(pk=department.pk).name == "Fixed by the operator"


@pytest.mark.django_db(transaction=True)
def test_inbound_customer_messages_are_still_stored(live_server, tenant_a):
    channel = cf.channel(tenant_a.org, queue=factories.queue(tenant_a.org, routing_strategy="manual"))
    _expire_trial(tenant_a.org)
    response = post(live_server, channel, text_payload(channel, wamid="wamid.readonly1", body="Still there?"))
    assert response.status_code == 200
    assert Message.objects.filter(organization=tenant_a.org, body="Still there?", direction="inbound").exists()
