"""Media in the pane: what WhatsApp sends (images, stickers, audio, video, documents, locations) is
shown through the tenant-checked download view; failed media says why; the pane's queries stay fixed."""

from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from conversations import services
from conversations.channels import whatsapp
from conversations.inbox import realtime
from conversations.models import Message
from tests.inbox.test_query_counts import PANE, bulk_conversations, queries

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 64


def notification(desk, message: dict) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "0",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "1",
                                    "phone_number_id": desk.whatsapp.phone_number_id,
                                },
                                "contacts": [{"profile": {"name": "Rita"}, "wa_id": "5511987650099"}],
                                "messages": [{"from": "5511987650099", "timestamp": "1700000000", **message}],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def test_stickers_and_locations_are_kept_as_whatsapp_sends_them(desk):
    parsed = whatsapp.parse_notification(
        notification(desk, {"id": "wamid.s1", "type": "sticker", "sticker": {"id": "77", "mime_type": "image/webp"}})
    )
    assert parsed.messages[0].kind == "sticker" and parsed.messages[0].media_id == "77"
    parsed = whatsapp.parse_notification(
        notification(
            desk,
            {
                "id": "wamid.l1",
                "type": "location",
                "location": {"latitude": -23.55, "longitude": -46.63, "name": "Loja Centro", "address": "Rua A, 1"},
            },
        )
    )
    item = parsed.messages[0]
    assert item.kind == "location" and item.location == {
        "name": "Loja Centro",
        "address": "Rua A, 1",
        "latitude": -23.55,
        "longitude": -46.63,
    }
    message = services.inbound_message_receive(
        channel=desk.whatsapp, phone="+5511987650099", kind=item.kind, body=item.body, location=item.location
    ).message
    assert message.kind == "location" and "Loja Centro" in message.body  # the body keeps it searchable
    assert message.map_url == "https://www.openstreetmap.org/?mlat=-23.55&mlon=-46.63#map=16/-23.55/-46.63"
    empty = whatsapp.parse_notification(notification(desk, {"id": "wamid.l2", "type": "location", "location": {}}))
    assert not empty.messages and "no coordinates, name or address" in empty.problems[0]


def _media(desk, conversation, kind: str, name: str, content_type: str, content: bytes, **fields) -> Message:
    message = Message(
        organization=desk.tenant.org,
        conversation=conversation,
        direction="inbound",
        author_type="contact",
        kind=kind,
        attachment_name=name,
        attachment_content_type=content_type,
        attachment_size=len(content),
        **fields,
    )
    message.attachment.save(name, ContentFile(content), save=False)
    message.save()
    return message


def test_the_pane_shows_each_kind_of_media(desk, client_for, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    conversation = bulk_conversations(desk, 1)[0]
    image = _media(desk, conversation, "image", "foto.jpg", "image/jpeg", JPEG, body="minha foto")
    sticker = _media(desk, conversation, "sticker", "s.webp", "image/webp", b"RIFF0000WEBP")
    audio = _media(desk, conversation, "audio", "voz.ogg", "audio/ogg", b"OggS")
    video = _media(desk, conversation, "video", "v.mp4", "video/mp4", b"\x00\x00\x00\x18ftyp")
    document = _media(desk, conversation, "document", "boleto.pdf", "application/pdf", b"%PDF-1.4" + b"0" * 2000)
    failed = Message.objects.create(
        organization=desk.tenant.org,
        conversation=conversation,
        direction="inbound",
        author_type="contact",
        kind="video",
        provider_media_id="999",
        error="Media not stored: media 999 is over the 16777216-byte limit",
    )
    pending = Message.objects.create(
        organization=desk.tenant.org,
        conversation=conversation,
        direction="inbound",
        author_type="contact",
        kind="image",
        provider_media_id="1000",
    )
    html = client_for(desk.tenant.agent).get(f"/inbox/?c={conversation.pk}", **PANE).content.decode()

    def url(message, inline=False):
        return reverse("conversations:attachment-download", args=[message.pk]) + ("?inline=1" if inline else "")

    assert f'<img src="{url(image, True)}"' in html and "minha foto" in html
    assert f'href="{url(image, True)}" target="_blank"' in html  # open full size
    assert f'<img src="{url(sticker, True)}" alt="Sticker"' in html
    assert f'<audio class="msg-media msg-audio" controls preload="none" src="{url(audio, True)}"' in html
    assert f'<video class="msg-media msg-video" controls preload="metadata" src="{url(video, True)}"' in html
    assert "boleto.pdf" in html and "2.0\xa0KB" in html and f'href="{url(document)}" download' in html
    assert f'id="message-{failed.pk}"' in html and "over the 16777216-byte limit" in html
    assert "Video not available" in html
    assert "Image arriving…" in html and f'id="message-{pending.pk}"' in html

    agent = client_for(desk.tenant.agent)
    inline = agent.get(url(image, True))
    assert inline["Content-Disposition"].startswith("inline") and inline["Content-Type"] == "image/jpeg"
    assert inline["Content-Security-Policy"] == "default-src 'none'; sandbox"
    as_file = agent.get(url(document, True))  # a PDF is never shown in the page
    assert as_file["Content-Disposition"].startswith("attachment")


def test_the_pane_with_media_runs_the_same_queries_with_10_and_1000_messages(
    desk, client_for, settings, tmp_path, django_assert_num_queries
):
    settings.MEDIA_ROOT = str(tmp_path)
    small_one, big_one = bulk_conversations(desk, 2)
    for conversation, count in ((small_one, 10), (big_one, 1000)):
        rows = [
            Message(
                organization=desk.tenant.org,
                conversation=conversation,
                direction="inbound",
                author_type="contact",
                kind=("image", "document", "audio", "location")[n % 4],
                attachment=f"attachments/{desk.tenant.org.pk}/x-{n}.bin" if n % 4 != 3 else "",
                attachment_name=f"file-{n}",
                attachment_size=100 + n,
                location={"latitude": 1.0, "longitude": 2.0} if n % 4 == 3 else {},
            )
            for n in range(count)
        ]
        Message.objects.bulk_create(rows)
    client = client_for(desk.tenant.agent)
    small = queries(client, f"/inbox/?c={small_one.pk}", PANE)
    with django_assert_num_queries(small):
        response = client.get(f"/inbox/?c={big_one.pk}", **PANE)
    assert response.content.decode().count("msg-thumb") > 0


def test_stored_media_is_announced_to_the_tabs(
    desk, httpserver, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    message = services.inbound_message_receive(
        channel=desk.whatsapp,
        phone="+5511987650099",
        kind="image",
        media_id="4242",
        content_type="image/jpeg",
        provider_message_id="wamid.4242",
    ).message
    httpserver.expect_request("/v21.0/4242").respond_with_json(
        {"url": httpserver.url_for("/blob"), "mime_type": "image/jpeg", "file_size": len(JPEG), "id": "4242"}
    )
    httpserver.expect_request("/blob").respond_with_data(JPEG, content_type="image/jpeg")
    before = realtime.current_sequence(desk.tenant.org.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_fetch_media(message_id=message.pk)
    entries, _current = realtime.replay_sync(desk.tenant.org.pk, before)
    assert [e.data["event"] for e in entries] == ["message.updated"]
    assert "msg-thumb" in entries[0].data["html"]["en"] and "item" not in entries[0].data
