"""End to end in headless Chromium against a real Daphne (and, for the import, a real Celery worker):
media in the pane, the contact panel live across tabs, a CSV import with a bad row.

Screenshots go to ``test-output/screenshots/contacts-*.png``.
"""

from __future__ import annotations

import json
import os
import struct
import time
import urllib.request
import zlib

import pytest
from django.conf import settings as django_settings

from accounts.models import User
from conversations import services
from conversations.channels import whatsapp
from conversations.contacts import services as contact_services
from conversations.models import Contact, Message
from tests import factories
from tests.browser import browser, database_url_for_tests, log_in, screenshot  # noqa: F401
from tests.conversations import factories as cf
from tests.inbox.live import daphne  # noqa: F401
from tests.inbox.test_browser import new_page, off_loop, open_inbox
from tests.notifications.worker import Worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(width: int = 160, height: int = 100) -> bytes:
    """A real PNG (red pixels), so the browser decodes what the download view serves."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
def shared_media(tmp_path, monkeypatch, settings):
    """One media directory for this process and the Daphne (and worker) it starts: request it before ``daphne``."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setenv("MEDIA_ROOT", settings.MEDIA_ROOT)
    return settings.MEDIA_ROOT


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_RETRY_BACKOFF = 0.01
    return httpserver


def post_image(server, channel, *, phone: str, media_id: str, caption: str) -> dict:
    payload = whatsapp.text_notification(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        wa_id=phone.lstrip("+"),
        name="Rita Lima",
        body="",
        message_id=f"wamid.{media_id}",
        timestamp=int(time.time()),
    )
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="image", image={"id": media_id, "mime_type": "image/png", "caption": caption})
    raw = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{server.url}/webhooks/whatsapp/{channel.public_id}/",
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json",
            whatsapp.SIGNATURE_HEADER: whatsapp.signature_for(raw, channel.app_secret),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("language", ["en", "pt-br"])
def test_inbound_image_inline_and_agent_sends_a_document(desk, browser, shared_media, graph, daphne, language):  # noqa: F811
    alice = desk.tenant.agent
    media_id = f"9{len(language)}01"
    picture = png()
    result = post_image(daphne, desk.whatsapp, phone="+5511987654300", media_id=media_id, caption="a foto do defeito")
    assert result["messages_stored"] == 1
    message = Message.objects.get(provider_media_id=media_id)
    conversation = message.conversation

    if conversation.assignee_id != desk.agent.pk:  # before the page opens: no live pane refresh under the test's typing
        off_loop(services.conversation_assign, conversation=conversation, membership=desk.agent, by=desk.tenant.admin)
    page = new_page(browser, locale="pt-BR" if language == "pt-br" else "en-US")
    open_inbox(page, daphne, alice.email, path=f"/inbox/?c={conversation.pk}", language=language)
    page.wait_for_selector(f"#message-{message.pk} .msg-media-pending")

    # What a worker does with the webhook's media: fetch it from the Graph API (the local server here).
    graph.expect_request(f"/v21.0/{media_id}").respond_with_json(
        {"url": graph.url_for(f"/blob/{media_id}"), "mime_type": "image/png", "file_size": len(picture), "id": media_id}
    )
    graph.expect_request(f"/blob/{media_id}").respond_with_data(picture, content_type="image/png")
    off_loop(services.message_fetch_media, message_id=message.pk)
    image = page.wait_for_selector(f"#message-{message.pk} img.msg-thumb")
    page.wait_for_function(f"document.querySelector('#message-{message.pk} img.msg-thumb').naturalWidth === 160")
    assert "a foto do defeito" in page.locator(f"#message-{message.pk}").inner_text()
    link = page.locator(f"#message-{message.pk} a.msg-image")
    assert link.get_attribute("target") == "_blank" and link.get_attribute("href").endswith("?inline=1")
    assert image.get_attribute("src").startswith(f"/attachments/{message.pk}/")
    screenshot(page, f"contacts-inbox-image-{language}")

    page.fill("#reply-body", "Segue o orçamento")
    page.set_input_files(
        "#reply-attachment",
        files=[{"name": "orcamento.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 " + b"1" * 3000}],
    )
    page.click("#reply-send")
    sent = page.wait_for_selector("#history-messages .msg-outbound .msg-file-name:has-text('orcamento.pdf')")
    assert sent is not None
    row = page.locator("#history-messages .msg-outbound").last
    assert row.locator(".msg-file-size").inner_text().replace(",", ".").startswith("2.9")
    assert row.locator("a.msg-download").get_attribute("href").startswith("/attachments/")
    reply = Message.objects.get(conversation=conversation, attachment_name="orcamento.pdf")
    assert reply.kind == "document" and reply.body == "Segue o orçamento"
    screenshot(page, f"contacts-inbox-document-{language}")

    # A refused file says why, and the typed reply stays in the box.
    page.fill("#reply-body", "e o programa")
    page.set_input_files(
        "#reply-attachment", files=[{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" * 10}]
    )
    page.click("#reply-send")
    page.wait_for_selector("#pane .pane-error")
    assert page.locator("#reply-body").input_value() == "e o programa"
    screenshot(page, f"contacts-inbox-refused-file-{language}")

    # The outbox sends it through the transport: upload, then the document by its media id.
    graph.expect_request(f"/v21.0/{desk.whatsapp.phone_number_id}/media", method="POST").respond_with_json(
        {"id": "m-1"}
    )
    graph.expect_request(f"/v21.0/{desk.whatsapp.phone_number_id}/messages", method="POST").respond_with_json(
        {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.out-{language}"}]}
    )
    delivered = off_loop(cf.deliver, message=reply)
    assert delivered.delivery_status == "sent"
    sent_body = json.loads(graph.log[-1][0].get_data())
    assert sent_body["type"] == "document" and sent_body["document"]["filename"] == "orcamento.pdf"
    # The refused upload's 422 is the only thing the console reports.
    assert [e for e in page.console_errors if "status of 422" not in e] == []


def test_a_contact_edited_in_one_tab_changes_in_the_other(desk, browser, daphne):  # noqa: F811
    org = desk.tenant.org
    contact_services.custom_field_create(
        organization=org, key="plano", label="Plano", kind="choice", choices=["Básico", "Ouro"]
    )
    contact_services.custom_field_create(organization=org, key="orcamento", label="Orçamento", kind="number")
    conversation = off_loop(
        services.inbound_message_receive, channel=desk.channel, phone="+5511987654311", body="oi", name="Jo"
    ).message.conversation
    agent = new_page(browser, locale="pt-BR")
    open_inbox(agent, daphne, desk.tenant.agent.email, path=f"/inbox/?c={conversation.pk}", language="pt-br")
    other = new_page(browser)
    open_inbox(other, daphne, desk.tenant.admin.email, path=f"/inbox/?c={conversation.pk}", language="en")
    viewer = new_page(browser)
    open_inbox(viewer, daphne, desk.tenant.viewer.email, path=f"/inbox/?c={conversation.pk}", language="en")
    assert viewer.locator("#contact-details-form").count() == 0  # viewers read only

    agent.fill("#contact-name", "Joana Prado")
    agent.fill("#contact-email", "joana@example.com")
    agent.select_option("#contact-stage", "customer")
    agent.select_option("#cf-plano", "Ouro")
    agent.click("#contact-save")
    agent.wait_for_selector("#contact-panel .notice")
    # The admin's tab, which did nothing, shows the change: the panel reloads on the realtime event.
    other.wait_for_selector("#contact-panel-title:has-text('Joana Prado')")
    assert other.locator("#contact-name").input_value() == "Joana Prado"
    other.wait_for_selector("#pane-title:has-text('Joana Prado')")
    assert other.locator("#cf-plano").input_value() == "Ouro"
    viewer.wait_for_selector("#contact-panel dd:has-text('joana@example.com')")
    agent.fill(".tag-add-input", "Cliente VIP")
    agent.click("#tag-add")
    other.wait_for_selector("#contact-tags .badge:has-text('Cliente VIP')")
    agent.select_option(f"#consent-value-{conversation.contact_id}", "opted_out")
    agent.click("#consent-save")
    other.wait_for_selector("#consent-now:has-text('Opted out')")
    # The list's names follow too.
    other.wait_for_selector("#conv-list .conv-item:has-text('Joana Prado')")
    contact = Contact.objects.get(pk=conversation.contact_id)
    assert (contact.name, contact.lifecycle_stage, contact.custom_fields, contact.opt_in) == (
        "Joana Prado",
        "customer",
        {"plano": "Ouro"},
        "opted_out",
    )
    # A refused value is explained next to the field.
    agent.fill("#cf-orcamento", "muito")
    agent.click("#contact-save")
    agent.wait_for_selector("#cf-orcamento-error")
    assert agent.locator("#cf-orcamento").input_value() == "muito"
    screenshot(agent, "contacts-panel-pt-br")
    screenshot(other, "contacts-panel-live-en")
    screenshot(viewer, "contacts-panel-viewer-en")
    assert [e for e in agent.console_errors if "status of 422" not in e] == []  # the refused save's 422 only
    assert other.console_errors == [] and viewer.console_errors == []


CSV = (
    "Nome,Telefone,Email,Tags\n"
    "Ana Lima,11 98765-0001,ana@example.com,vip\n"
    "Sem Número,12345,x@example.com,\n"
    "Bruno Reis,+55 21 99876-0002,,novo\n"
)


@pytest.fixture
def worker(shared_media, daphne):  # noqa: F811
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": django_settings.REDIS_URL,
        "REDIS_KEY_PREFIX": django_settings.REDIS_KEY_PREFIX,
        "MEDIA_ROOT": shared_media,
        "HTTPS": "0",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = Worker(env, concurrency=1).start()
    yield process
    process.stop()


def test_csv_import_with_a_bad_row_reported(desk, browser, shared_media, daphne, worker, tmp_path):  # noqa: F811
    path = tmp_path / "contatos.csv"
    path.write_text(CSV, encoding="utf-8")
    page = new_page(browser)
    User.objects.filter(email=desk.tenant.agent.email).update(language="en")
    log_in(page, daphne.url, desk.tenant.agent.email, factories.PASSWORD)
    page.goto(f"{daphne.url}/contacts/")
    page.click("#import-link")
    page.set_input_files("#import-file", str(path))
    page.click("#upload-submit")
    page.wait_for_selector("#mapping-table")
    assert page.locator("#col-1").input_value() == "phone"  # guessed from the header
    assert page.locator("#import-region").input_value() == "BR"  # from the organization's time zone
    page.wait_for_selector("#import-preview tr:not(.rejected) td:has-text('+5511987650001')")
    page.wait_for_selector("#import-preview tr.rejected td.bad:has-text('Telefone')")
    screenshot(page, "contacts-import-mapping-en")
    page.click("#import-start")
    page.wait_for_selector("#import-done", timeout=60_000)
    assert "2 created, 0 updated, 1 rejected" in page.locator("#import-done").inner_text()
    assert "not a valid phone number" in page.locator("#rejected-rows").inner_text()
    screenshot(page, "contacts-import-report-en")
    assert set(Contact.objects.filter(organization=desk.tenant.org).values_list("phone", flat=True)) >= {
        "+5511987650001",
        "+5521998760002",
    }
    # The report in Portuguese, and the list with the imported contacts.
    page.context.add_cookies([{"name": "django_language", "value": "pt-br", "url": daphne.url}])
    page.reload()
    page.wait_for_selector("#rejected-rows")
    screenshot(page, "contacts-import-report-pt-br")
    page.goto(f"{daphne.url}/contacts/?q=lima")
    page.wait_for_selector("#contacts-table tr[data-contact-id]:has-text('Ana Lima')")
    screenshot(page, "contacts-list-pt-br")
    # The contact's page: the panel, conversations, consent history, and the appointments scheduling serves.
    page.click("#contacts-table a:has-text('Ana Lima')")
    page.wait_for_selector("#contact-appointments .contact-appointments")
    page.wait_for_selector("#contact-panel #contact-tags .badge:has-text('vip')")
    screenshot(page, "contacts-detail-pt-br")
    assert page.console_errors == []
