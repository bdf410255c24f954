"""The API's conventions: problem details, keyset pagination, Idempotency-Key, rate limits."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import APIToken
from conversations.models import Contact
from tests.api.conftest import Api
from tests.conversations import factories as cf

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def _problem(answer, status: int) -> dict:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    body = answer.json()
    assert PROBLEM_KEYS <= set(body)
    assert body["status"] == status
    return body


def test_field_errors_are_problem_details_with_each_field(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.agent)
    body = _problem(api.post("/api/v1/contacts/", {"email": "not an email", "lead_score": 500, "tag_ids": ["x"]}), 400)
    fields = {error["field"] for error in body["errors"]}
    assert {"email", "lead_score", "tag_ids[0]"} <= fields
    assert all(error["message"] and error["code"] for error in body["errors"])
    assert body["instance"] == "/api/v1/contacts/"


def test_a_refusal_by_a_rule_is_a_422_with_its_message(tenant_a, api_for):
    conversation = cf.conversation(tenant_a.org)
    api = api_for(tenant_a.org, tenant_a.agent)
    assert api.post(f"/api/v1/conversations/{conversation.pk}/close/").status_code == 200
    body = _problem(api.post(f"/api/v1/conversations/{conversation.pk}/reply/", {"body": "hello"}), 422)
    assert "Reopen" in body["detail"] or body["errors"]


def test_malformed_json_unknown_urls_and_bad_ids_are_problems(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.agent)
    malformed = api.client.post(
        "/api/v1/contacts/", "{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    _problem(malformed, 400)
    _problem(api.get("/api/v1/nothing-here/"), 404)
    _problem(api.get("/api/v1/contacts/99999999999999999999999/"), 404)
    _problem(api.get("/api/v1/contacts/abc/"), 404)
    _problem(api.post("/api/v1/contacts/", {"name": "nul\x00char"}), 400)
    _problem(api.get("/api/v1/contacts/", {"cursor": "%%%not-a-cursor"}), 400)
    _problem(api.client.put("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Bearer {api.token}"), 405)


def test_pages_stay_stable_while_rows_are_inserted(tenant_a, api_for):
    for n in range(7):
        cf.contact(tenant_a.org, name=f"Before {n}")
    api = api_for(tenant_a.org, tenant_a.agent)
    first = api.get("/api/v1/contacts/", {"page_size": 3}).json()
    seen = [row["id"] for row in first["results"]]
    cursor = first["next_cursor"]
    for n in range(5):  # new rows land before the cursor: they must not shift the pages after it
        cf.contact(tenant_a.org, name=f"Inserted {n}")
    while cursor:
        page = api.get("/api/v1/contacts/", {"page_size": 3, "cursor": cursor}).json()
        seen.extend(row["id"] for row in page["results"])
        cursor = page["next_cursor"]
    before = list(
        Contact.objects.filter(organization=tenant_a.org, name__startswith="Before").values_list("pk", flat=True)
    )
    assert seen == sorted(before, reverse=True)


def test_the_conversation_list_pages_in_the_inbox_order_with_nulls(tenant_a, api_for):
    from conversations.models import Conversation

    rows = [cf.conversation(tenant_a.org) for _ in range(5)]
    Conversation.objects.filter(pk__in=[rows[1].pk, rows[3].pk]).update(last_message_at=None)
    api = api_for(tenant_a.org, tenant_a.agent)
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/conversations/", {"page_size": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen.extend(row["id"] for row in page["results"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    expected = list(
        Conversation.objects.filter(organization=tenant_a.org)
        .order_by("-last_message_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.agent)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/api/v1/contacts/", {"name": "Once", "phone": "+5511911112222"}, headers=key)
    again = api.post("/api/v1/contacts/", {"name": "Once", "phone": "+5511911112222"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Contact.objects.filter(organization=tenant_a.org, name="Once").count() == 1


def test_the_same_key_with_another_body_is_refused(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.agent)
    key = {"Idempotency-Key": "order-17"}
    assert api.post("/api/v1/contacts/", {"name": "First"}, headers=key).status_code == 201
    body = _problem(api.post("/api/v1/contacts/", {"name": "Second"}, headers=key), 422)
    assert body["type"] == "urn:pytake:problem:idempotency_key_reused"
    assert not Contact.objects.filter(organization=tenant_a.org, name="Second").exists()


def test_idempotency_keys_belong_to_one_credential_and_errors_are_replayed_too(tenant_a, api_for):
    mine = api_for(tenant_a.org, tenant_a.agent)
    other = api_for(tenant_a.org, tenant_a.admin)
    key = {"Idempotency-Key": "shared-key"}
    assert mine.post("/api/v1/contacts/", {"name": "Mine"}, headers=key).status_code == 201
    assert other.post("/api/v1/contacts/", {"name": "Theirs"}, headers=key).status_code == 201
    refused = mine.post("/api/v1/contacts/", {"email": "bad"}, headers={"Idempotency-Key": "bad-one"})
    replayed = mine.post("/api/v1/contacts/", {"email": "bad"}, headers={"Idempotency-Key": "bad-one"})
    assert refused.status_code == replayed.status_code == 400
    assert replayed["Idempotent-Replayed"] == "true"


def test_an_idempotency_key_is_kept_for_a_day(tenant_a, api_for, settings):
    from django.core.cache import cache

    api = api_for(tenant_a.org, tenant_a.agent)
    api.post("/api/v1/contacts/", {"name": "Kept"}, headers={"Idempotency-Key": "kept"})
    keys = [k for k in cache._cache.get_client().keys("*api:idempotency:token:*")]
    ttls = [cache._cache.get_client().ttl(k) for k in keys]
    assert ttls and max(ttls) > settings.API_IDEMPOTENCY_TTL_SECONDS - 60


def test_rate_limits_answer_429_with_retry_after_and_headers(tenant_a, token_for):
    token = token_for(tenant_a.org, tenant_a.agent, rate_limit_per_minute=3)
    api = Api(token)
    answers = [api.get("/api/v1/me/") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a["RateLimit-Limit"] == "3" for a in answers)
    limited = _problem(answers[3], 429)
    assert int(answers[3]["Retry-After"]) >= 1
    assert limited["type"] == "urn:pytake:problem:rate-limited"
    other = Api(token_for(tenant_a.org, tenant_a.agent, rate_limit_per_minute=3))
    assert other.get("/api/v1/me/").status_code == 200  # the limit is per token


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/", "/api/v1/redoc/"])
def test_the_schema_and_docs_are_served_without_a_token(db, client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    if path.endswith("docs/") or path.endswith("redoc/"):
        html = answer.content.decode()
        assert "<script>" not in html and "<style>" not in html  # CSP: no inline code
        assert "/static/" in html and "https://" not in html.split("</head>")[0]


def test_the_schema_documents_every_route_with_problem_answers(db, client):
    import yaml

    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    paths = schema["paths"]
    for route in (
        "/api/v1/contacts/",
        "/api/v1/conversations/{id}/reply/",
        "/api/v1/templates/{id}/send/",
        "/api/v1/campaigns/{id}/start/",
        "/api/v1/scheduling/services/{id}/availability/",
        "/api/v1/scheduling/appointments/{id}/reschedule/",
        "/api/v1/notifications/preferences/",
        "/api/v1/webhooks/deliveries/{id}/replay/",
        "/api/v1/organization/usage/",
    ):
        assert route in paths, route
    post = paths["/api/v1/contacts/"]["post"]
    assert "application/problem+json" in post["responses"]["400"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert "bearerAuth" in schema["components"]["securitySchemes"]


def test_unused_tokens_module_imports(tenant_a):
    assert APIToken.objects.count() == 0


def test_problems_speak_the_callers_language(tenant_a, api_for):
    api = api_for(tenant_a.org, tenant_a.admin, scopes=["contacts:read"])
    answer = api.post("/api/v1/contacts/", {"name": "Ana"}, headers={"Accept-Language": "pt-br"})
    assert answer.json()["detail"] == "Este token não tem o escopo contacts:write."
