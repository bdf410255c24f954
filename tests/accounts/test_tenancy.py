import pytest
from django.urls import reverse

from accounts import services
from accounts.tenancy import SESSION_KEY


@pytest.mark.django_db
def test_multi_org_user_switches_and_sees_each_org(tenant_a, tenant_b, client_for):
    services.membership_create(organization=tenant_b.org, user=tenant_a.agent, role="viewer")
    client = client_for(tenant_a.agent)
    response = client.get(reverse("dashboard"))
    assert response.context["current_organization"] == tenant_a.org  # first by name: Alpha
    assert {o.pk for o in response.context["switchable_organizations"]} == {tenant_a.org.pk, tenant_b.org.pk}

    response = client.post(reverse("accounts:switch"), {"organization": tenant_b.org.pk, "next": "/accounts/team/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/team/"
    response = client.get(reverse("dashboard"))
    assert response.context["current_organization"] == tenant_b.org
    assert response.context["current_membership"].role == "viewer"
    # The role follows the organization: a viewer in B cannot act there.
    assert client.post(reverse("accounts:my_status"), {"status": "online"}).status_code == 403


@pytest.mark.django_db
def test_switching_to_a_foreign_org_is_refused_and_a_forged_session_falls_back(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.agent)
    response = client.post(reverse("accounts:switch"), {"organization": tenant_b.org.pk}, follow=True)
    assert response.context["current_organization"] == tenant_a.org
    assert "not a member" in response.content.decode()

    session = client.session
    session[SESSION_KEY] = tenant_b.org.pk
    session.save()
    response = client.get(reverse("accounts:team"))
    assert response.context["current_organization"] == tenant_a.org
    assert tenant_b.admin.email not in response.content.decode()


@pytest.mark.django_db
def test_switch_rejects_garbage_and_offsite_next(tenant_a, client_for):
    client = client_for(tenant_a.agent)
    assert client.post(reverse("accounts:switch"), {"organization": "abc"}).status_code == 400
    response = client.post(
        reverse("accounts:switch"), {"organization": tenant_a.org.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_superuser_may_switch_to_any_org(tenant_a, tenant_b, superuser, client_for):
    client = client_for(superuser)
    client.post(reverse("accounts:switch"), {"organization": tenant_b.org.pk})
    response = client.get(reverse("accounts:team"))
    assert response.context["current_organization"] == tenant_b.org
    assert tenant_b.admin.email in response.content.decode()
    assert tenant_a.admin.email not in response.content.decode()


@pytest.mark.django_db
def test_team_page_lists_only_current_org(tenant_a, tenant_b, client_for):
    body = client_for(tenant_a.viewer).get(reverse("accounts:team")).content.decode()
    assert tenant_a.agent.email in body
    assert tenant_b.agent.email not in body
