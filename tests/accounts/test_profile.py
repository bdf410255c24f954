"""My profile: name, language, time zone, signature, picture and password; each change audited."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditLogEntry
from conversations import services as conversation_services
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def test_profile_details_are_saved_and_audited(tenant_a, client_for):
    client = client_for(tenant_a.viewer)  # every role has a profile
    assert client.get(reverse("profile")).status_code == 200
    response = client.post(
        reverse("profile"),
        {
            "form": "details",
            "full_name": "Vera Viewer",
            "language": "en",
            "time_zone": "Europe/Lisbon",
            "signature": "Vera\r\nSuporte",
        },
    )
    assert response.status_code == 302 and response.cookies["django_language"].value == "en"
    user = tenant_a.viewer
    user.refresh_from_db()
    assert (user.full_name, user.language, user.time_zone, user.signature) == (
        "Vera Viewer",
        "en",
        "Europe/Lisbon",
        "Vera\nSuporte",
    )
    entry = AuditLogEntry.objects.get(action="user.profile_updated")
    assert entry.organization == tenant_a.org and entry.changes["time_zone"] == ["", "Europe/Lisbon"]


def test_bad_profile_input_is_refused_with_the_reason(tenant_a, client_for):
    client = client_for(tenant_a.agent)
    response = client.post(
        reverse("profile"), {"form": "details", "full_name": "A", "language": "xx", "time_zone": "Mars/Base"}
    )
    assert response.status_code == 422
    text = response.content.decode()
    assert "is not a valid choice" in text and "Mars/Base" in text
    response = client.post(
        reverse("profile"), {"form": "avatar", "avatar": SimpleUploadedFile("a.png", b"<svg></svg>")}
    )
    assert response.status_code == 422 and "JPEG, PNG or WebP" in response.content.decode()
    assert client.post(reverse("profile"), {"form": "nope"}).status_code == 400


def test_avatar_upload_view_and_remove(tenant_a, client_for, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    client = client_for(tenant_a.agent)
    assert client.get(reverse("my-avatar")).status_code == 404
    client.post(reverse("profile"), {"form": "avatar", "avatar": SimpleUploadedFile("me.gif", PNG)})
    picture = client.get(reverse("my-avatar"))
    assert picture["Content-Type"] == "image/png" and b"".join(picture.streaming_content) == PNG
    client.post(reverse("profile"), {"form": "avatar", "remove": "1"})
    assert client.get(reverse("my-avatar")).status_code == 404


def test_password_change_keeps_the_session(tenant_a, client_for):
    client = client_for(tenant_a.agent)
    wrong = client.post(
        reverse("profile"),
        {
            "form": "password",
            "old_password": "nope",
            "new_password1": "Zq8!long-pass",
            "new_password2": "Zq8!long-pass",
        },
    )
    assert wrong.status_code == 422
    ok = client.post(
        reverse("profile"),
        {
            "form": "password",
            "old_password": factories.PASSWORD,
            "new_password1": "Zq8!long-pass",
            "new_password2": "Zq8!long-pass",
        },
    )
    assert ok.status_code == 302
    tenant_a.agent.refresh_from_db()
    assert tenant_a.agent.check_password("Zq8!long-pass")
    assert client.get(reverse("profile")).status_code == 200  # still logged in
    assert AuditLogEntry.objects.filter(action="user.password_changed", actor=tenant_a.agent).exists()


def test_the_signature_is_appended_to_replies_not_to_notes(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    agent = cf.online_agent(tenant_a.org, queue=queue)
    agent.user.signature = "— Ana, Suporte"
    agent.user.save()
    conversation = cf.conversation(tenant_a.org, queue=queue, channel=cf.channel(tenant_a.org, kind="console"))
    reply = conversation_services.message_send(conversation=conversation, author=agent, body="Olá!")
    assert reply.body == "Olá!\n\n— Ana, Suporte"
    note = conversation_services.note_add(conversation=conversation, author=agent, body="cliente VIP")
    assert note.body == "cliente VIP"
