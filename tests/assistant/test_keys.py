"""API keys: encrypted in the database, only the last four characters shown, never in logs or pages."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuditLogEntry
from conversations.assistant import crypto, services
from conversations.assistant.models import AssistantProvider
from tests.assistant.conftest import OPENAI_KEY, add_openai
from tests.assistant.fakes import Error

pytestmark = pytest.mark.django_db


def raw_key_column(provider_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted FROM assistant_assistantprovider WHERE id = %s", [provider_id])
        return cursor.fetchone()[0]


def test_the_key_is_encrypted_in_the_database(tenant_a, fake_openai):
    provider = add_openai(tenant_a.org, fake_openai)
    raw = raw_key_column(provider.pk)
    assert OPENAI_KEY not in raw and "SECRET" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert crypto.decrypt(raw) == OPENAI_KEY
    assert provider.api_key_last4 == OPENAI_KEY[-4:]
    with connection.cursor() as cursor:  # no other column of any assistant table holds it
        cursor.execute("SELECT row_to_json(p)::text FROM assistant_assistantprovider p")
        assert all(OPENAI_KEY not in row[0] for row in cursor.fetchall())


def test_pages_show_only_the_last_four_characters(tenant_a, fake_openai, client_for):
    provider = add_openai(tenant_a.org, fake_openai)
    services.provider_test(provider=provider)
    client = client_for(tenant_a.admin)
    pages = [
        reverse("assistant:settings"),
        reverse("assistant:provider-edit", args=[provider.pk]),
        reverse("admin:assistant_assistantprovider_changelist"),
        reverse("admin:assistant_assistantprovider_change", args=[provider.pk]),
        reverse("admin:assistant_assistantcall_changelist"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert OPENAI_KEY not in page, url
        assert "SECRET" not in page, url
        assert provider.api_key_encrypted not in page, url
    settings_page = client.get(pages[0]).content.decode()
    assert f"…{OPENAI_KEY[-4:]}" in settings_page
    assert "Stored key ends with …9f3a" in client.get(pages[1]).content.decode()


def test_keys_are_absent_from_logs_and_the_audit_log(tenant_a, fake_openai, caplog, client_for):
    caplog.set_level(logging.DEBUG)  # the SDKs' and httpx's debug logs included
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("assistant:provider-new"),
        {
            "kind": "openai",
            "model": "gpt-4o-mini",
            "api_key": OPENAI_KEY,
            "base_url": fake_openai.base_url,
            "position": 1,
            "is_active": "on",
            "timeout_seconds": 5,
            "max_output_tokens": 100,
            "max_input_tokens": 2000,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = AssistantProvider.objects.get()
    fake_openai.queue(Error(500, "server_error", "boom", {"retry-after-ms": "10"}))
    services.provider_test(provider=provider)
    services.provider_test(provider=provider)
    assert fake_openai.requests  # the key did go to the provider…
    assert OPENAI_KEY not in caplog.text  # …and to no log line
    assert "SECRET" not in caplog.text
    entries = AuditLogEntry.objects.filter(organization=tenant_a.org, action__startswith="assistant.")
    assert entries.exists()
    assert all(OPENAI_KEY not in str(entry.changes) + str(entry.metadata) for entry in entries)


def test_editing_without_a_key_keeps_it_and_a_new_key_replaces_it(tenant_a, fake_openai, client_for):
    provider = add_openai(tenant_a.org, fake_openai)
    client = client_for(tenant_a.admin)
    form = {
        "kind": "openai",
        "model": "gpt-4o",
        "api_key": "",
        "base_url": fake_openai.base_url,
        "position": 1,
        "is_active": "on",
        "timeout_seconds": 5,
        "max_output_tokens": 100,
        "max_input_tokens": 2000,
    }
    assert client.post(reverse("assistant:provider-edit", args=[provider.pk]), form).status_code == 302
    provider.refresh_from_db()
    assert (provider.model, crypto.decrypt(provider.api_key_encrypted)) == ("gpt-4o", OPENAI_KEY)
    form["api_key"] = "sk-replaced-key-abcd"
    client.post(reverse("assistant:provider-edit", args=[provider.pk]), form)
    provider.refresh_from_db()
    assert crypto.decrypt(provider.api_key_encrypted) == "sk-replaced-key-abcd"
    assert provider.api_key_last4 == "abcd"
    # A new provider needs a key; a broken one is refused in words.
    response = client.post(reverse("assistant:provider-new"), form | {"api_key": ""})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    response = client.post(reverse("assistant:provider-new"), form | {"api_key": "sk x"})
    assert response.status_code == 422
    assert "Paste the whole API key (no spaces)." in response.content.decode()


def test_rotation_re_encrypts_under_the_new_key(tenant_a, fake_openai):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(ASSISTANT_ENCRYPTION_KEYS=[old]):
        provider = add_openai(tenant_a.org, fake_openai)
        before = raw_key_column(provider.pk)
    with override_settings(ASSISTANT_ENCRYPTION_KEYS=[new, old]):
        assert crypto.decrypt(before) == OPENAI_KEY  # still readable with the old key behind the new one
        call_command("ai_rotate_keys")
    after = raw_key_column(provider.pk)
    assert after != before
    with override_settings(ASSISTANT_ENCRYPTION_KEYS=[new]):  # the old key can go now
        assert crypto.decrypt(after) == OPENAI_KEY
        provider.refresh_from_db()
        assert services.provider_test(provider=provider).ok
    with override_settings(ASSISTANT_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        result = services.provider_test(provider=provider)
        assert not result.ok
        assert "cannot be decrypted" in result.words and "Enter the API key again" in result.words
