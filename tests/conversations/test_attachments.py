"""Attachment rules and the tenant-checked download."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations import services
from conversations.attachments import MiB, sanitize_filename, validate_attachment
from tests import factories
from tests.conversations import factories as cf


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\\\Users\\\\x\\\\évil name.pdf", "évil_name.pdf"),
        ("...", "file"),
        ("a\x00b.png", "ab.png"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_file_names_are_sanitized(raw, expected):
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    "name, content_type, size, kind",
    [
        ("a.jpg", "image/jpeg", 10, "image"),
        ("a.mp4", "video/mp4", 10, "video"),
        ("a.ogg", "audio/ogg; codecs=opus", 10, "audio"),
        ("a.pdf", "application/pdf", 10, "document"),
        ("noextension", "image/png", 10, "image"),
    ],
)
def test_allowed_types_give_their_kind(name, content_type, size, kind):
    assert validate_attachment(name=name, content_type=content_type, size=size) == kind


@pytest.mark.parametrize(
    "name, content_type, size, message",
    [
        ("a.html", "text/html", 10, "cannot be sent"),
        ("a.jpg", "image/jpeg", 6 * MiB, "up to 5 MiB"),
        ("a.pdf", "application/pdf", 0, "empty"),
        ("a.exe", "application/pdf", 10, "does not match"),
    ],
)
def test_refused_attachments_say_why(name, content_type, size, message):
    with pytest.raises(ValidationError, match=message):
        validate_attachment(name=name, content_type=content_type, size=size)


@pytest.mark.django_db
def test_download_only_inside_the_organization(tenant_a, tenant_b, client_for, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    agent = cf.online_agent(tenant_a.org, queue=queue)
    conversation = cf.conversation(tenant_a.org, queue=queue, channel=cf.channel(tenant_a.org, kind="console"))
    upload = SimpleUploadedFile("boleto.pdf", b"%PDF-1.4 secret", content_type="application/pdf")
    message = services.message_send(conversation=conversation, author=agent, body="", attachment=upload)
    url = reverse("conversations:attachment-download", args=[message.pk])

    response = client_for(tenant_a.viewer).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 secret"
    assert response["Content-Disposition"].startswith("attachment;") and "boleto.pdf" in response["Content-Disposition"]
    assert client_for(tenant_b.admin).get(url).status_code == 404
    assert client_for(None).get(url).status_code == 302  # to the login page
    text_only = services.message_send(conversation=conversation, author=agent, body="no file")
    assert (
        client_for(tenant_a.admin).get(reverse("conversations:attachment-download", args=[text_only.pk])).status_code
        == 404
    )
