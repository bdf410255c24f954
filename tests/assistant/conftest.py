from __future__ import annotations

import pytest

from conversations.assistant import services
from conversations.assistant.models import ProviderKind
from tests.assistant.fakes import FakeAnthropic, FakeOpenAI

OPENAI_KEY = "sk-test-openai-SECRET-9f3a"
ANTHROPIC_KEY = "sk-ant-test-SECRET-77b1"


@pytest.fixture
def fake_openai():
    server = FakeOpenAI(valid_key=OPENAI_KEY)
    yield server
    server.stop()


@pytest.fixture
def fake_anthropic():
    server = FakeAnthropic(valid_key=ANTHROPIC_KEY)
    yield server
    server.stop()


def enable(org, *, by=None, **fields):
    return services.settings_update(organization=org, by=by, **({"enabled": True} | fields))


def add_openai(org, server, *, key: str = OPENAI_KEY, position: int = 1, **fields):
    return services.provider_create(
        organization=org,
        by=None,
        api_key=key,
        kind=ProviderKind.OPENAI,
        model=fields.pop("model", "gpt-4o-mini"),
        base_url=server.base_url,
        position=position,
        timeout_seconds=fields.pop("timeout_seconds", 5),
        **fields,
    )


def add_anthropic(org, server, *, key: str = ANTHROPIC_KEY, position: int = 2, **fields):
    return services.provider_create(
        organization=org,
        by=None,
        api_key=key,
        kind=ProviderKind.ANTHROPIC,
        model=fields.pop("model", "claude-3-5-haiku-latest"),
        base_url=server.base_url,
        position=position,
        timeout_seconds=fields.pop("timeout_seconds", 5),
        **fields,
    )


@pytest.fixture
def ai_org(tenant_a, fake_openai, fake_anthropic):
    """Tenant A with AI on: OpenAI first, Anthropic second, both pointed at the local fakes."""
    enable(tenant_a.org)
    add_openai(tenant_a.org, fake_openai)
    add_anthropic(tenant_a.org, fake_anthropic)
    return tenant_a
