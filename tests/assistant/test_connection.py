"""“Test connection”: success with the answer time, or the provider's error in words."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.assistant import services
from conversations.assistant.models import AssistantCall, Feature
from tests.assistant.conftest import add_anthropic, add_openai
from tests.assistant.fakes import FakeOpenAI

pytestmark = pytest.mark.django_db


def test_success_reports_the_answer_time(tenant_a, fake_openai):
    provider = add_openai(tenant_a.org, fake_openai)
    result = services.provider_test(provider=provider, by=tenant_a.admin)
    assert result.ok
    assert result.words.startswith("Connected: gpt-4o-mini answered in ")
    assert result.words.endswith(" s.")
    assert fake_openai.requests[0].body["max_completion_tokens"] == 5
    assert AssistantCall.objects.get().feature == Feature.TEST


def test_bad_key_is_reported_in_words_without_the_key(tenant_a, fake_openai, fake_anthropic):
    wrong = "sk-wrong-key-0000"
    for provider in (
        add_openai(tenant_a.org, fake_openai, key=wrong),
        add_anthropic(tenant_a.org, fake_anthropic, key=wrong),
    ):
        result = services.provider_test(provider=provider, by=tenant_a.admin)
        assert not result.ok
        assert "refused the API key: it is wrong, revoked or for another account." in result.words
        assert wrong not in result.words and "sk-wro" not in result.words
    assert not AssistantCall.objects.filter(error__contains="sk-").exists()


def test_unknown_model_and_quota_in_words(tenant_a, fake_anthropic):
    openai = FakeOpenAI(known_models={"gpt-4o-mini"})
    try:
        provider = add_openai(tenant_a.org, openai, model="gpt-9-imaginary")
        result = services.provider_test(provider=provider)
        assert not result.ok
        assert "OpenAI does not know the model “gpt-9-imaginary”" in result.words

        provider = services.provider_update(provider=provider, by=None, model="gpt-4o-mini")
        openai.queue(FakeOpenAI.quota(), FakeOpenAI.quota())  # the SDK retries a 429 once
        result = services.provider_test(provider=provider)
        assert not result.ok
        assert "the account has no quota or credit left" in result.words
        assert "check your plan and billing details" in result.words
    finally:
        openai.stop()

    claude = add_anthropic(tenant_a.org, fake_anthropic, model="claude-nope")
    fake_anthropic.known_models = {"claude-3-5-haiku-latest"}
    result = services.provider_test(provider=claude)
    assert "Anthropic does not know the model “claude-nope”" in result.words


def test_unreachable_gateway_in_words(tenant_a):
    provider = services.provider_create(
        organization=tenant_a.org,
        by=None,
        api_key="sk-test-unreachable",
        kind="openai",
        model="gpt-4o-mini",
        base_url="http://127.0.0.1:9/v1",
        timeout_seconds=2,
    )
    result = services.provider_test(provider=provider)
    assert not result.ok
    assert "OpenAI could not be reached (http://127.0.0.1:9/v1)." in result.words


def test_the_settings_page_button_shows_the_result(tenant_a, fake_openai, client_for):
    provider = add_openai(tenant_a.org, fake_openai, key="sk-bad-key-12345")
    client = client_for(tenant_a.admin)
    url = reverse("assistant:provider-test", args=[provider.pk])
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="test-result-{provider.pk}"' in page
    assert "refused the API key" in page
    assert "sk-bad-key-12345" not in page
    # Agents and viewers may not test (nor see) the organization's providers.
    for user in (tenant_a.agent, tenant_a.viewer):
        assert client_for(user).post(url).status_code == 403
