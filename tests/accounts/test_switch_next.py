"""The organization switcher's ``next``: a path on this site, or the overview; never a view name."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    ("next_value", "expected"),
    [
        ("/accounts/team/", "/accounts/team/"),
        ("/inbox/?status=open", "/inbox/?status=open"),
        ("dashboard", "/"),  # redirect("dashboard") would have resolved the view name
        ("accounts:team", "/"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("http://testserver/accounts/team/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_switch_redirects_only_to_a_path_on_this_site(tenant_a, tenant_b, client_for, next_value, expected):
    from tests import factories

    factories.member(tenant_b.org, email=tenant_a.agent.email)
    client = client_for(tenant_a.agent)
    response = client.post(reverse("accounts:switch"), {"organization": tenant_b.org.pk, "next": next_value})
    assert response.status_code == 302
    assert response["Location"] == expected


@override_settings(DEBUG=False)
@pytest.mark.parametrize("organization", ["9" * 30, "-1", "0", "x"])
@pytest.mark.parametrize("who", ["agent", "superuser"])
def test_switch_with_a_hostile_organization_id_is_a_message_or_a_400_never_a_500(
    tenant_a, superuser, client_for, organization, who
):
    user = superuser if who == "superuser" else tenant_a.agent
    response = client_for(user).post(reverse("accounts:switch"), {"organization": organization, "next": "/"})
    assert response.status_code == (400 if organization == "x" else 302)
