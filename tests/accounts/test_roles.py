"""Which role reaches which page: one matrix, checked end to end."""

import pytest
from django.urls import reverse

from accounts.models import User

ANON, NO_ORG, VIEWER, AGENT, ADMIN, SUPER = "anonymous", "no-organization", "viewer", "agent", "org_admin", "superuser"

# page → {role: expected status}; 302 for anonymous means "to the login page".
MATRIX = {
    ("GET", "dashboard"): {ANON: 302, NO_ORG: 403, VIEWER: 200, AGENT: 200, ADMIN: 200, SUPER: 200},
    ("GET", "accounts:team"): {ANON: 302, NO_ORG: 403, VIEWER: 200, AGENT: 200, ADMIN: 200, SUPER: 200},
    ("POST", "accounts:my_status"): {ANON: 302, NO_ORG: 403, VIEWER: 403, AGENT: 302, ADMIN: 302, SUPER: 302},
    ("GET", "admin:index"): {ANON: 302, NO_ORG: 302, VIEWER: 302, AGENT: 302, ADMIN: 200, SUPER: 200},
    ("GET", "admin:accounts_queue_changelist"): {
        ANON: 302,
        NO_ORG: 302,
        VIEWER: 302,
        AGENT: 302,
        ADMIN: 200,
        SUPER: 200,
    },
    ("GET", "admin:accounts_organization_add"): {
        ANON: 302,
        NO_ORG: 302,
        VIEWER: 302,
        AGENT: 302,
        ADMIN: 403,
        SUPER: 200,
    },
    ("GET", "admin:django_celery_beat_periodictask_changelist"): {
        ANON: 302,
        NO_ORG: 302,
        VIEWER: 302,
        AGENT: 302,
        ADMIN: 403,
        SUPER: 200,
    },
}


@pytest.fixture
def users(tenant_a, superuser):
    return {
        ANON: None,
        NO_ORG: User.objects.create_user(email="lonely@nowhere.test", password="x-very-long-password"),
        VIEWER: tenant_a.viewer,
        AGENT: tenant_a.agent,
        ADMIN: tenant_a.admin,
        SUPER: superuser,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("page", list(MATRIX), ids=lambda p: f"{p[0]} {p[1]}")
def test_role_matrix(page, users, client_for):
    method, name = page
    url = reverse(name)
    for role, expected in MATRIX[page].items():
        client = client_for(users[role])
        response = client.post(url, {"status": "online"}) if method == "POST" else client.get(url)
        assert response.status_code == expected, f"{role} {method} {url}: {response.status_code} != {expected}"
        if expected == 302 and role in (ANON,):
            assert "/login/" in response["Location"]


@pytest.mark.django_db
def test_admin_refusal_for_agent_is_the_login_page_not_the_admin(tenant_a, client_for):
    response = client_for(tenant_a.agent).get(reverse("admin:index"), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(reverse("admin:login"))
    assert b"not authorized" in response.content


@pytest.mark.django_db
def test_viewer_cannot_change_status_and_agent_can(tenant_a, client_for):
    from accounts.models import Membership

    client_for(tenant_a.agent).post(reverse("accounts:my_status"), {"status": "online"})
    assert Membership.objects.get(user=tenant_a.agent).status == "online"
    client_for(tenant_a.viewer).post(reverse("accounts:my_status"), {"status": "online"})
    assert Membership.objects.get(user=tenant_a.viewer).status == "offline"


@pytest.mark.django_db
def test_status_htmx_returns_the_partial_and_bad_value_is_a_clear_400(tenant_a, client_for):
    client = client_for(tenant_a.agent)
    response = client.post(reverse("accounts:my_status"), {"status": "away"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="status-card"' in body and "<html" not in body
    response = client.post(reverse("accounts:my_status"), {"status": "sleeping"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "online, away, offline" in response.content.decode()
