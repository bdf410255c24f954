"""Writes of the assistant's settings and providers, the connection test and key rotation.

An API key is accepted in clear only by ``provider_create`` / ``provider_update`` and stored
encrypted at once; audit entries record that it changed, never its value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import Organization
from conversations.assistant import calls, crypto
from conversations.assistant.client import ChatMessage
from conversations.assistant.models import AssistantProvider, AssistantSettings, Feature

SETTINGS_FIELDS = ("enabled", "monthly_token_budget", "redact_contact_data")
PROVIDER_FIELDS = (
    "kind",
    "position",
    "is_active",
    "model",
    "base_url",
    "timeout_seconds",
    "max_output_tokens",
    "max_input_tokens",
    "price_in",
    "price_out",
)


@transaction.atomic
def settings_update(*, organization: Organization, by, **fields) -> AssistantSettings:
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    row, _created = AssistantSettings.objects.select_for_update().get_or_create(organization=organization)
    before = audit.snapshot(row, SETTINGS_FIELDS)
    for name, value in fields.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    audit.record(
        organization=organization,
        actor=by,
        action="assistant.settings_changed",
        obj=row,
        changes=audit.diff(before, audit.snapshot(row, SETTINGS_FIELDS)),
    )
    return row


def _set_key(provider: AssistantProvider, api_key: str) -> None:
    api_key = api_key.strip()
    if len(api_key) < 8 or any(ch.isspace() for ch in api_key):
        raise ValidationError({"api_key": _("Paste the whole API key (no spaces).")})
    provider.api_key_encrypted = crypto.encrypt(api_key)
    provider.api_key_last4 = api_key[-4:]


@transaction.atomic
def provider_create(*, organization: Organization, by, api_key: str, **fields) -> AssistantProvider:
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    provider = AssistantProvider(organization=organization, **fields)
    _set_key(provider, api_key)
    provider.full_clean()
    provider.save()
    audit.record(
        organization=organization,
        actor=by,
        action="assistant.provider_added",
        obj=provider,
        changes={name: [None, audit.json_value(getattr(provider, name))] for name in PROVIDER_FIELDS}
        | {"api_key": [None, "***"]},
    )
    return provider


@transaction.atomic
def provider_update(*, provider: AssistantProvider, by, api_key: str = "", **fields) -> AssistantProvider:
    """Change the named fields; an empty ``api_key`` keeps the stored one."""
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    provider = AssistantProvider.objects.select_for_update().get(pk=provider.pk)
    before = audit.snapshot(provider, PROVIDER_FIELDS)
    for name, value in fields.items():
        setattr(provider, name, value)
    changes = {}
    if api_key.strip():
        _set_key(provider, api_key)
        changes["api_key"] = ["***", "***"]
    provider.full_clean()
    provider.save()
    audit.record(
        organization=provider.organization_id,
        actor=by,
        action="assistant.provider_changed",
        obj=provider,
        changes=audit.diff(before, audit.snapshot(provider, PROVIDER_FIELDS)) | changes,
    )
    return provider


@transaction.atomic
def provider_delete(*, provider: AssistantProvider, by) -> None:
    audit.record(
        organization=provider.organization_id,
        actor=by,
        action="assistant.provider_removed",
        obj=provider,
        metadata={"kind": provider.kind, "model": provider.model},
    )
    provider.delete()


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    words: str
    seconds: float
    answer: str = ""


def provider_test(*, provider: AssistantProvider, by=None) -> ConnectionResult:
    """A tiny request to this provider alone: success and the answer time, or the provider's error in words.

    Not held back by the budget (a test must work to set things up) but recorded like any call.
    """
    started = time.monotonic()
    try:
        answer, _provider = calls.complete(
            organization=provider.organization,
            feature=Feature.TEST,
            system="You are a connection test. Reply with the single word OK.",
            messages=[ChatMessage("user", "Reply with OK.")],
            max_tokens=5,
            user=by,
            provider=provider,
            check_budget=False,
        )
    except calls.AssistantUnavailable as error:
        words = error.words.removeprefix(_("No AI provider answered.") + " ")
        return ConnectionResult(ok=False, words=words, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    return ConnectionResult(
        ok=True,
        words=_("Connected: %(model)s answered in %(seconds).2f s.") % {"model": provider.model, "seconds": seconds},
        seconds=seconds,
        answer=answer.text[:100],
    )


def keys_rotate() -> tuple[int, int]:
    """Re-encrypt every stored API key under the newest key; returns (rotated, unreadable)."""
    rotated = unreadable = 0
    for pk in AssistantProvider.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            provider = AssistantProvider.objects.select_for_update().get(pk=pk)
            try:
                token = crypto.rotate(provider.api_key_encrypted)
            except crypto.KeyUnreadable:
                unreadable += 1
                continue
            AssistantProvider.objects.filter(pk=pk).update(api_key_encrypted=token)
            rotated += 1
    return rotated, unreadable
