from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts.roles import Role
from tests import factories


@dataclass
class Tenant:
    org: object
    admin: object
    agent: object
    viewer: object


def _tenant(name: str, slug: str) -> Tenant:
    org = factories.organization(name=name, slug=slug)
    return Tenant(
        org=org,
        admin=factories.member(org, Role.ORG_ADMIN, email=f"admin@{slug}.test").user,
        agent=factories.member(org, Role.AGENT, email=f"agent@{slug}.test").user,
        viewer=factories.member(org, Role.VIEWER, email=f"viewer@{slug}.test").user,
    )


@pytest.fixture
def tenant_a(db) -> Tenant:
    return _tenant("Alpha Org", "alpha")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return _tenant("Beta Org", "beta")


@pytest.fixture
def superuser(db):
    return factories.superuser()


@pytest.fixture
def client_for():
    """``client_for(user)``: a test client logged in as ``user`` (force_login: axes needs a request)."""

    def make(user) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language: a test that activated another (a pt-BR page, a
    message rendered in the organization's language) never leaks it into the next one."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
