"""The usage page: each plan limit, the figure, the share used and the last months' counters."""

from __future__ import annotations

import re

import pytest

from accounts import limits
from accounts.roles import Role
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_admin():
    org = factories.organization(name="Pequena", plan="free")
    admin = factories.member(org, Role.ORG_ADMIN, email="admin@pequena.test")
    agent = factories.member(org, Role.AGENT, email="agent@pequena.test")
    viewer = factories.member(org, Role.VIEWER, email="viewer@pequena.test")
    return org, admin.user, agent.user, viewer.user


def _row(html: str, resource: str) -> str:
    return re.search(rf'<tr data-resource="{resource}">(.*?)</tr>', html, re.S).group(1)


def test_only_org_admins_see_it_and_it_shows_each_limit_the_figure_and_the_share(org_admin, client_for):
    org, admin, agent, viewer = org_admin
    cf.channel(org, kind="console")
    limits.usage_increment(organization=org, field="messages_sent", by=850)
    limits.usage_increment(organization=org, field="appointments_created", by=10)
    assert client_for(agent).get("/settings/usage/").status_code == 403
    assert client_for(viewer).get("/settings/usage/").status_code == 403
    assert client_for(None).get("/settings/usage/").status_code == 302  # to the login page
    client = client_for(admin)
    assert 'href="/settings/usage/"' in client.get("/").content.decode()  # linked from the dashboard
    response = client.get("/settings/usage/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    users = _row(html, "users")
    assert ">3<" in users and "100%" in users and "usage-fill-100 usage-full" in users
    channels = _row(html, "channels")
    assert ">1<" in channels and "100%" in channels
    messages = _row(html, "messages")
    assert ">850<" in messages and ">1000<" in messages and "85%" in messages and "usage-fill-85 usage-high" in messages
    appointments = _row(html, "appointments")
    assert ">10<" in appointments and ">50<" in appointments and "20%" in appointments and "usage-ok" in appointments
    assert "style=" not in html.split("<main", 1)[1]  # the CSP allows no inline style
    history = html.split('id="usage-history"', 1)[1]
    assert history.count("<tr>") == 6 + 1  # header and six months


def test_unlimited_plans_say_so_and_the_page_speaks_portuguese(client_for):
    org = factories.organization(name="Grande", plan="enterprise")
    admin = factories.member(org, Role.ORG_ADMIN).user
    client = client_for(admin)
    client.cookies["django_language"] = "pt-br"
    html = client.get("/settings/usage/").content.decode()
    assert "Uso e limites do plano" in html and "Mensagens enviadas neste mês" in html
    assert _row(html, "contacts").count("ilimitado") == 1
    assert "usage-bar" not in html
