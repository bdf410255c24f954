"""Builders of the assistant's tenant rows, for the admin isolation tests."""

from __future__ import annotations

from conversations.assistant import calls, services
from conversations.assistant.models import AssistantCall, AssistantProvider, AssistantSettings


def _provider(org) -> AssistantProvider:
    return services.provider_create(
        organization=org,
        by=None,
        api_key=f"sk-test-builder-{org.pk:04d}",
        kind="openai",
        model="gpt-4o-mini",
        base_url="http://127.0.0.1:9/v1",
    )


def _call(org) -> AssistantCall:
    provider = AssistantProvider.objects.for_organization(org).first() or _provider(org)
    return calls.record_call(
        organization=org, provider=provider, feature="suggest", outcome="ok", usage=calls.Usage(10, 5), latency_ms=20
    )


TENANT_ROW_BUILDERS = {
    AssistantSettings: lambda org: services.settings_update(organization=org, by=None, enabled=True),
    AssistantProvider: _provider,
    AssistantCall: _call,
}
