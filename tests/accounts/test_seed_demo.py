from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

from accounts.models import Membership, Organization, User


def _counts():
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in ("accounts", "conversations", "notifications", "scheduling")
    }


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_logins():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = _counts()
    assert Organization.objects.filter(slug__in=["acme", "globex"]).count() == 2
    for slug in ("acme", "globex"):
        roles = set(Membership.objects.filter(organization__slug=slug).values_list("role", flat=True))
        assert roles == {"org_admin", "agent", "viewer"}
    assert User.objects.get(email="super@pytake.test").is_superuser
    assert Membership.objects.filter(user__email="multi@pytake.test").count() == 2
    assert "admin@acme.test" in out.getvalue() and "pytake-demo" in out.getvalue()

    call_command("seed_demo", stdout=StringIO())
    assert _counts() == first

    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "not loaded" in out.getvalue()
    assert _counts() == first
