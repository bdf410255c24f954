"""complete() and stream() against the two local providers: fallback, retries, budget, records."""

from __future__ import annotations

import pytest

from conversations.assistant import calls, services
from conversations.assistant.client import ChatMessage
from conversations.assistant.models import AssistantCall, Feature, Outcome
from tests.assistant.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.assistant.fakes import Error, Ok, Slow

pytestmark = pytest.mark.django_db

FAST = {"retry-after-ms": "10"}  # the SDKs' backoff before their retry, kept short


def ask(org, **kwargs):
    return calls.complete(
        organization=org,
        feature=Feature.OTHER,
        system="Be brief.",
        messages=[ChatMessage("user", "Hello?")],
        **kwargs,
    )


def test_first_provider_answers_and_the_call_is_recorded(ai_org, fake_openai, fake_anthropic):
    fake_openai.queue(Ok("Hi there", tokens_in=30, tokens_out=4))
    answer, provider = ask(ai_org.org, user=ai_org.agent, conversation_id=77)
    assert answer.text == "Hi there"
    assert provider.kind == "openai"
    [seen] = fake_openai.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert seen.body["model"] == "gpt-4o-mini"
    assert seen.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert seen.body["max_completion_tokens"] == 800
    assert fake_anthropic.requests == []
    call = AssistantCall.objects.get()
    assert (call.organization, call.feature, call.provider_kind, call.model, call.outcome) == (
        ai_org.org,
        "other",
        "openai",
        "gpt-4o-mini",
        Outcome.OK,
    )
    assert (call.tokens_in, call.tokens_out, call.user, call.conversation_id) == (30, 4, ai_org.agent, 77)


def test_fallback_to_the_next_provider_when_the_first_answers_500(ai_org, fake_openai, fake_anthropic):
    fake_openai.queue(Error(500, "server_error", "boom", FAST), Error(500, "server_error", "boom again", FAST))
    fake_anthropic.queue(Ok("From Claude", tokens_in=12, tokens_out=3))
    answer, provider = ask(ai_org.org)
    assert (answer.text, provider.kind) == ("From Claude", "anthropic")
    assert len(fake_openai.requests) == 2  # the SDK retried once (ASSISTANT_MAX_RETRIES=1 in tests)
    [seen] = fake_anthropic.requests
    assert seen.path == "/v1/messages"
    assert ANTHROPIC_KEY in (
        seen.headers.get("x-api-key"),
        seen.headers.get("authorization", "").removeprefix("Bearer "),
    )
    assert seen.body["system"] == "Be brief."
    assert seen.body["messages"] == [{"role": "user", "content": "Hello?"}]
    failed, ok = AssistantCall.objects.order_by("id")
    assert (failed.provider_kind, failed.outcome, ok.provider_kind, ok.outcome) == (
        "openai",
        Outcome.ERROR,
        "anthropic",
        Outcome.OK,
    )
    assert "HTTP 500" in failed.error and "boom again" in failed.error
    assert (ok.tokens_in, ok.tokens_out) == (12, 3)


def test_fallback_when_the_first_provider_times_out(ai_org, fake_openai, fake_anthropic):
    first = ai_org.org.assistant_providers.get(kind="openai")
    services.provider_update(provider=first, by=None, timeout_seconds=0.3)
    fake_openai.queue(Slow(2), Slow(2))
    fake_anthropic.queue(Ok("Still here"))
    answer, provider = ask(ai_org.org)
    assert (answer.text, provider.kind) == ("Still here", "anthropic")
    timeout = AssistantCall.objects.get(provider_kind="openai")
    assert timeout.outcome == Outcome.TIMEOUT
    assert "did not answer within 0.3 seconds" in timeout.error


def test_429_is_retried_after_what_retry_after_asks(ai_org, fake_openai, fake_anthropic):
    fake_openai.queue(
        Error(429, "rate_limit_exceeded", "Rate limit reached", {"Retry-After": "1"}), Ok("After waiting")
    )
    answer, provider = ask(ai_org.org)
    assert (answer.text, provider.kind) == ("After waiting", "openai")
    first, second = fake_openai.requests
    assert second.at - first.at >= 1.0  # waited the second Retry-After asked (a lower bound, not a timing)
    assert fake_anthropic.requests == []
    assert list(AssistantCall.objects.values_list("outcome", flat=True)) == [Outcome.OK]


def test_anthropic_429_with_retry_after_too(ai_org, fake_openai, fake_anthropic):
    fake_openai.queue(Error(500, "server_error", "down", FAST), Error(500, "server_error", "down", FAST))
    fake_anthropic.queue(Error(429, "rate_limit_error", "Slow down", {"retry-after": "1"}), Ok("Claude after waiting"))
    answer, provider = ask(ai_org.org)
    assert (answer.text, provider.kind) == ("Claude after waiting", "anthropic")
    first, second = fake_anthropic.requests
    assert second.at - first.at >= 1.0


def test_every_provider_failing_is_one_clear_refusal(ai_org, fake_openai, fake_anthropic):
    fake_openai.queue(Error(500, "server_error", "down", FAST), Error(500, "server_error", "down", FAST))
    fake_anthropic.queue(
        Error(529, "overloaded_error", "Overloaded", FAST), Error(529, "overloaded_error", "Overloaded", FAST)
    )
    with pytest.raises(calls.AssistantUnavailable) as raised:
        ask(ai_org.org)
    assert raised.value.code == "providers_failed"
    assert "OpenAI had an error (HTTP 500)" in raised.value.words
    assert "Anthropic had an error (HTTP 529)" in raised.value.words
    assert AssistantCall.objects.filter(outcome=Outcome.ERROR).count() == 2


def test_inactive_providers_are_skipped(ai_org, fake_openai, fake_anthropic):
    services.provider_update(provider=ai_org.org.assistant_providers.get(kind="openai"), by=None, is_active=False)
    answer, provider = ask(ai_org.org)
    assert provider.kind == "anthropic"
    assert fake_openai.requests == []


def test_no_provider_is_a_clear_message(tenant_a):
    with pytest.raises(calls.AssistantUnavailable) as raised:
        ask(tenant_a.org)
    assert raised.value.code == "no_provider"
    assert "No AI provider is set up" in raised.value.words


def test_the_budget_stops_calls_and_caps_the_answer(ai_org, fake_openai):
    from tests.assistant.conftest import enable

    enable(ai_org.org, monthly_token_budget=100)
    fake_openai.queue(Ok("one", tokens_in=60, tokens_out=10))
    ask(ai_org.org)
    # 70 used: what is left (30) caps the next answer's length.
    ask(ai_org.org)
    assert fake_openai.requests[1].body["max_completion_tokens"] == 30
    requests_before = len(fake_openai.requests)
    with pytest.raises(calls.AssistantUnavailable) as raised:
        ask(ai_org.org)
    assert raised.value.code == "budget"
    assert "This month's AI budget of 100 tokens is used up" in raised.value.words
    assert "raise it in the AI settings" in raised.value.words
    assert len(fake_openai.requests) == requests_before  # nothing was sent
    with pytest.raises(calls.AssistantUnavailable):
        list(
            calls.stream(
                organization=ai_org.org, feature=Feature.OTHER, system="s", messages=[ChatMessage("user", "x")]
            )
        )
    assert len(fake_openai.requests) == requests_before


def _stream(org):
    return list(
        calls.stream(
            organization=org, feature=Feature.SUGGEST, system="Be brief.", messages=[ChatMessage("user", "Hi")]
        )
    )


def test_openai_streaming_pieces_and_usage(ai_org, fake_openai):
    fake_openai.queue(Ok("Good morning, how can I help you today?", tokens_in=50, tokens_out=9))
    pieces = _stream(ai_org.org)
    assert len(pieces) > 3
    assert "".join(pieces) == "Good morning, how can I help you today?"
    assert fake_openai.requests[0].body["stream"] is True
    call = AssistantCall.objects.get()
    assert (call.feature, call.outcome, call.tokens_in, call.tokens_out) == ("suggest", Outcome.OK, 50, 9)


def test_anthropic_streaming_and_fallback_before_the_first_piece(ai_org, fake_openai, fake_anthropic):
    fake_openai.queue(Error(503, "server_error", "unavailable", FAST), Error(503, "server_error", "unavailable", FAST))
    fake_anthropic.queue(Ok("Olá, tudo bem?", tokens_in=20, tokens_out=5))
    assert "".join(_stream(ai_org.org)) == "Olá, tudo bem?"
    assert fake_anthropic.requests[0].body["stream"] is True
    ok = AssistantCall.objects.get(outcome=Outcome.OK)
    assert (ok.provider_kind, ok.tokens_in, ok.tokens_out) == ("anthropic", 20, 5)
    assert AssistantCall.objects.get(outcome=Outcome.ERROR).provider_kind == "openai"


def test_calls_are_priced_at_the_providers_prices(ai_org, fake_openai, client_for):
    from decimal import Decimal

    from django.urls import reverse

    provider = ai_org.org.assistant_providers.get(kind="openai")
    services.provider_update(provider=provider, by=None, price_in=Decimal("0.15"), price_out=Decimal("0.60"))
    fake_openai.queue(Ok("priced", tokens_in=1000, tokens_out=500))
    ask(ai_org.org)
    assert AssistantCall.objects.get().cost == Decimal("0.000450")
    page = client_for(ai_org.admin).get(reverse("assistant:usage")).content.decode()
    assert "0.000450" in page
