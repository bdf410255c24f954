"""Tokens and scopes: who may read and write what, through which credentials."""

from __future__ import annotations

import datetime
import hashlib

from django.utils import timezone

from accounts import services as account_services
from accounts.models import APIToken, APITokenKind, Membership
from accounts.roles import Role
from conversations.models import Contact
from tests.api.conftest import ALL, READ_ONLY, Api
from tests.conversations import factories as cf


def test_a_token_is_stored_hashed_and_shown_once(tenant_a):
    row, token = account_services.api_token_create(
        organization=tenant_a.org, user=tenant_a.admin, name="CRM", scopes=["contacts:read"]
    )
    stored = APIToken.objects.get(pk=row.pk)
    assert token.startswith(f"ptk_{stored.prefix}_")
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored.__dict__.values())
    assert Api(token).get("/api/v1/me/").json()["credential"] == "organization"


def test_a_read_token_cannot_write(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.admin, scopes=READ_ONLY)
    assert api.get("/api/v1/contacts/").status_code == 200
    refused = api.post("/api/v1/contacts/", {"name": "Ana"})
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:pytake:problem:scope"
    assert "contacts:write" in refused.json()["detail"]
    assert not Contact.objects.filter(organization=tenant_a.org).exists()


def test_a_token_without_the_resource_scope_reads_nothing_of_it(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.admin, scopes=["contacts:read"])
    assert api.get("/api/v1/conversations/").status_code == 403
    assert api.get("/api/v1/contacts/").status_code == 200


def test_a_token_of_one_organization_sees_nothing_of_another(tenant_a, tenant_b, api_for):
    theirs = cf.conversation(tenant_b.org)
    their_contact = theirs.contact
    api = api_for(tenant_a.org, tenant_a.admin)
    assert api.get("/api/v1/conversations/").json()["results"] == []
    assert api.get("/api/v1/contacts/").json()["results"] == []
    for path in (
        f"/api/v1/conversations/{theirs.pk}/",
        f"/api/v1/conversations/{theirs.pk}/messages/",
        f"/api/v1/contacts/{their_contact.pk}/",
    ):
        assert api.get(path).status_code == 404, path
    assert api.post(f"/api/v1/conversations/{theirs.pk}/close/").status_code == 404
    assert api.patch(f"/api/v1/contacts/{their_contact.pk}/", {"name": "Taken"}).status_code == 404
    their_contact.refresh_from_db()
    assert their_contact.name != "Taken"


def test_a_viewers_personal_token_reads_but_cannot_act(tenant_a, api_for):
    conversation = cf.conversation(tenant_a.org)
    api = api_for(tenant_a.org, tenant_a.viewer)
    assert api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200
    for path, body in [
        (f"/api/v1/conversations/{conversation.pk}/reply/", {"body": "hi"}),
        (f"/api/v1/conversations/{conversation.pk}/close/", {}),
        ("/api/v1/contacts/", {"name": "Ana"}),
    ]:
        refused = api.post(path, body)
        assert refused.status_code == 403, path
        assert refused.json()["type"] == "urn:pytake:problem:role"
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_a_personal_token_acts_as_its_user(tenant_a, api_for):
    conversation = cf.conversation(tenant_a.org)
    api = api_for(tenant_a.org, tenant_a.agent)
    answer = api.post(f"/api/v1/conversations/{conversation.pk}/assign/", {})
    assert answer.status_code == 200
    assert answer.json()["assignee"]["user_id"] == tenant_a.agent.pk
    mine = api.get("/api/v1/conversations/", {"view": "mine"}).json()["results"]
    assert [c["id"] for c in mine] == [conversation.pk]


def test_an_organization_token_needs_an_admin_and_stops_when_they_are_not_one(tenant_a, token_for):
    import pytest
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        token_for(tenant_a.org, tenant_a.agent, kind=APITokenKind.ORGANIZATION)
    token = token_for(tenant_a.org, tenant_a.admin, kind=APITokenKind.ORGANIZATION)
    assert Api(token).get("/api/v1/contacts/").status_code == 200
    Membership.objects.filter(organization=tenant_a.org, user=tenant_a.admin).update(role=Role.AGENT)
    assert Api(token).get("/api/v1/contacts/").status_code == 401


def test_expired_revoked_and_wrong_tokens_are_401_alike(tenant_a, token_for):
    expired = token_for(tenant_a.org, tenant_a.agent, expires_at=timezone.now() + datetime.timedelta(seconds=1))
    APIToken.objects.filter(prefix=expired.split("_")[1]).update(expires_at=timezone.now() - datetime.timedelta(1))
    revoked = token_for(tenant_a.org, tenant_a.agent)
    account_services.api_token_revoke(token=APIToken.objects.get(prefix=revoked.split("_")[1]), by=tenant_a.admin)
    good = token_for(tenant_a.org, tenant_a.agent)
    wrong = good[:-4] + ("aaaa" if not good.endswith("aaaa") else "bbbb")
    for token in (expired, revoked, wrong, "ptk_nope", "garbage"):
        answer = Api(token).get("/api/v1/contacts/")
        assert answer.status_code == 401, token
        assert answer["Content-Type"] == "application/problem+json"
        assert answer["WWW-Authenticate"].startswith("Bearer")
    assert Api(good).get("/api/v1/contacts/").status_code == 200
    assert Api(None).get("/api/v1/contacts/").status_code == 401


def test_last_use_is_recorded(tenant_a, token_for):
    token = token_for(tenant_a.org, tenant_a.agent)
    row = APIToken.objects.get(prefix=token.split("_")[1])
    assert row.last_used_at is None
    Api(token).get("/api/v1/me/")
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_unknown_scopes_and_past_expiry_are_refused(tenant_a):
    import pytest
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        account_services.api_token_create(
            organization=tenant_a.org,
            user=tenant_a.admin,
            name="x",
            scopes=["contacts:delete"],
            expires_at=timezone.now() - datetime.timedelta(1),
        )
    assert set(refused.value.message_dict) == {"scopes", "expires_at"}


def test_the_browser_session_still_works_with_csrf_on_writes(tenant_a, client_for):
    from django.test import Client

    client = client_for(tenant_a.agent)
    assert client.get("/api/v1/contacts/").status_code == 200
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(tenant_a.agent, backend="django.contrib.auth.backends.ModelBackend")
    refused = strict.post("/api/v1/contacts/", {"name": "Ana"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_the_admin_issues_a_token_shown_once_and_revokes_it(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    answer = client.post(
        "/admin/accounts/apitoken/add/",
        {"name": "Zapier", "kind": "organization", "user": tenant_a.admin.pk, "scopes": ["contacts:read"]},
        follow=True,
    )
    assert answer.status_code == 200
    row = APIToken.objects.get(organization=tenant_a.org, name="Zapier")
    shown = [str(m) for m in answer.context["messages"]]
    token = next(m.split(": ")[-1] for m in shown if "ptk_" in m)
    assert Api(token).get("/api/v1/contacts/").status_code == 200
    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [row.pk]},
        follow=True,
    )
    assert Api(token).get("/api/v1/contacts/").status_code == 401
    listing = client.get("/admin/accounts/apitoken/")
    assert token not in listing.content.decode()


def test_all_scopes_fixture_is_every_scope():
    assert len(ALL) == 16
