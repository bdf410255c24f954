"""One organization's AI settings, keys and usage are never used for, or shown to, another."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from conversations import services as conversation_services
from conversations.assistant import calls, selectors
from conversations.assistant.client import ChatMessage
from conversations.assistant.models import AssistantCall, Feature
from tests.assistant.conftest import add_openai, enable
from tests.assistant.fakes import FakeOpenAI, Ok
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

B_KEY = "sk-beta-organization-key-B0B0"


@pytest.fixture
def beta(tenant_b):
    server = FakeOpenAI(valid_key=B_KEY)
    enable(tenant_b.org, monthly_token_budget=1_000_000)
    provider = add_openai(tenant_b.org, server, key=B_KEY, model="beta-model")
    yield tenant_b, server, provider
    server.stop()


def test_calls_use_only_the_organizations_own_providers(ai_org, beta, fake_openai, fake_anthropic):
    tenant_b, b_server, b_provider = beta
    fake_openai.queue(Ok("alpha answer"))
    answer, provider = calls.complete(
        organization=ai_org.org, feature=Feature.OTHER, system="s", messages=[ChatMessage("user", "hi")]
    )
    assert provider.organization_id == ai_org.org.pk
    assert b_server.requests == []
    # B's provider cannot be used for A, even when passed explicitly.
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        calls.complete(
            organization=ai_org.org,
            feature=Feature.TEST,
            system="s",
            messages=[ChatMessage("user", "hi")],
            provider=b_provider,
        )
    assert b_server.requests == []
    # A whose providers all fail never falls back onto B's.
    for server in (fake_openai, fake_anthropic):
        server.valid_key = "nothing-matches"
    with pytest.raises(calls.AssistantUnavailable):
        calls.complete(organization=ai_org.org, feature=Feature.OTHER, system="s", messages=[ChatMessage("user", "hi")])
    assert b_server.requests == []
    assert not AssistantCall.objects.filter(organization=tenant_b.org).exists()


def test_budgets_and_usage_count_only_the_own_calls(ai_org, beta):
    tenant_b, _server, b_provider = beta
    calls.record_call(
        organization=tenant_b.org,
        provider=b_provider,
        feature="suggest",
        outcome="ok",
        usage=calls.Usage(900, 100),
        latency_ms=5,
    )
    enable(ai_org.org, monthly_token_budget=500)
    assert selectors.tokens_used_this_month(organization=ai_org.org) == 0
    assert selectors.tokens_used_this_month(organization=tenant_b.org) == 1000
    assert selectors.usage_by_month(organization=ai_org.org) == []
    calls.precheck(organization=ai_org.org)  # B's 1,000 tokens do not spend A's 500


def test_pages_never_show_another_organizations_settings_keys_or_usage(ai_org, beta, client_for):
    tenant_b, _server, b_provider = beta
    calls.record_call(
        organization=tenant_b.org,
        provider=b_provider,
        feature="summarize",
        outcome="ok",
        usage=calls.Usage(4321, 1),
        latency_ms=5,
    )
    client = client_for(ai_org.admin)
    for url in (reverse("assistant:settings"), reverse("assistant:usage"), reverse("usage")):
        page = client.get(url).content.decode()
        assert "beta-model" not in page, url
        assert B_KEY[-4:] not in page, url
        assert "4321" not in page and "4,321" not in page, url
    # B's provider by id: 404 for every action, and nothing changes.
    for name, method in (
        ("provider-edit", "get"),
        ("provider-edit", "post"),
        ("provider-test", "post"),
        ("provider-delete", "post"),
    ):
        response = getattr(client, method)(reverse(f"assistant:{name}", args=[b_provider.pk]))
        assert response.status_code == 404, name
    b_provider.refresh_from_db()
    assert b_provider.model == "beta-model"
    assert not AssistantCall.objects.filter(organization=tenant_b.org, feature="test").exists()


def test_the_inbox_actions_refuse_another_organizations_conversation(ai_org, beta, client_for):
    tenant_b, b_server, _provider = beta
    channel = cf.channel(tenant_b.org, kind="console")
    foreign = conversation_services.inbound_message_receive(
        channel=channel, phone="+5511987659999", body="Beta's customer"
    ).message.conversation
    client = client_for(ai_org.agent)
    assert client.get(reverse("assistant:bar", args=[foreign.pk])).status_code == 404
    assert client.post(reverse("assistant:assist", args=[foreign.pk, "suggest"])).status_code == 404
    assert b_server.requests == []


def test_a_disabled_organization_gets_no_help_whatever_another_has(tenant_a, beta, client_for):
    channel = cf.channel(tenant_a.org, kind="console")
    own = conversation_services.inbound_message_receive(channel=channel, phone="+5511987658888", body="Alpha").message
    assert client_for(tenant_a.agent).get(reverse("assistant:bar", args=[own.conversation_id])).status_code == 204


def test_ai_usage_command_per_organization_and_month(ai_org, beta, capsys):
    tenant_b, _server, b_provider = beta
    provider = ai_org.org.assistant_providers.first()
    for _ in range(2):
        calls.record_call(
            organization=ai_org.org,
            provider=provider,
            feature="suggest",
            outcome="ok",
            usage=calls.Usage(100, 20),
            latency_ms=5,
        )
    calls.record_call(
        organization=tenant_b.org,
        provider=b_provider,
        feature="suggest",
        outcome="error",
        usage=calls.Usage(),
        latency_ms=5,
    )
    call_command("ai_usage")
    out = capsys.readouterr().out.splitlines()
    alpha = next(line for line in out if line.startswith("Alpha Org"))
    beta_line = next(line for line in out if line.startswith("Beta Org"))
    assert alpha.split()[2:7] == [selectors.month_start(ai_org.org).strftime("%Y-%m"), "2", "0", "200", "40"]
    assert beta_line.split()[2:7] == [selectors.month_start(tenant_b.org).strftime("%Y-%m"), "1", "1", "0", "0"]
    call_command("ai_usage", "--organization", "beta")
    out = capsys.readouterr().out
    assert "Beta Org" in out and "Alpha Org" not in out


def test_admin_changelists_are_scoped(ai_org, beta, client_for):
    tenant_b, _server, b_provider = beta
    client = client_for(ai_org.admin)
    page = client.get(reverse("admin:assistant_assistantprovider_changelist")).content.decode()
    assert "beta-model" not in page
    assert client.get(reverse("admin:assistant_assistantprovider_change", args=[b_provider.pk])).status_code == 404
