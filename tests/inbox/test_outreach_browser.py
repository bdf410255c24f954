"""In headless Chromium against Daphne: the window closed, a template sent from the picker, and a
conversation started from the contact panel — in English and in Portuguese.

Screenshots go to ``test-output/screenshots/inbox-template-*.png`` and ``inbox-start-*.png``.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Message
from tests.browser import browser, screenshot  # noqa: F401
from tests.conversations import factories as cf
from tests.conversations.test_outreach import ORDER_TEMPLATE
from tests.inbox.live import daphne  # noqa: F401
from tests.inbox.test_browser import new_page, off_loop, open_inbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def settled(page) -> None:
    """Wait until htmx has swapped, settled and processed what it inserted (new controls listen)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def _late_conversation(desk):
    conversation = off_loop(
        services.inbound_message_receive, channel=desk.whatsapp, phone=cf.phone(), body="Oi", name="Joana Lima"
    ).message.conversation
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - datetime.timedelta(hours=30)
    )
    off_loop(services.conversation_assign, conversation=conversation, membership=desk.agent)
    return conversation


@pytest.mark.parametrize(
    "language,locale,closed,sent",
    [
        ("en", "en-US", "The 24-hour window closed at", "Template sent."),
        ("pt-br", "pt-BR", "A janela de 24 horas fechou em", "Modelo enviado."),
    ],
)
def test_window_closed_template_picker_and_start_conversation(desk, browser, daphne, language, locale, closed, sent):  # noqa: F811
    cf.approved_template(desk.tenant.org, desk.whatsapp, name="order_update", components=ORDER_TEMPLATE)
    conversation = _late_conversation(desk)
    page = new_page(browser, locale=locale)
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}", language=language)
    page.wait_for_selector(f"#service-window:has-text('{closed}')")
    page.click("#open-template-picker")
    page.wait_for_selector("#template-choice")
    settled(page)
    page.select_option("#template-choice", label=page.locator("#template-choice option").nth(1).inner_text())
    page.wait_for_selector("#template-preview")
    settled(page)
    assert page.locator("input[name='v:body.1']").input_value() == "Joana"  # pre-filled with the contact's name
    assert page.locator("input[name='v:header.1']").input_value() == ""
    page.fill("input[name='v:header.1']", "8123")
    page.fill("input[name='v:body.2']", "na sexta")
    page.fill("input[name='v:button.1.1']", "8123")
    page.wait_for_selector("#template-preview:has-text('Pedido 8123')")
    page.wait_for_selector("#template-preview:has-text('Olá Joana, seu pedido chega na sexta.')")
    page.wait_for_selector("#template-preview:has-text('alpha.test/t/8123')")
    screenshot(page, f"inbox-template-picker-{language}")
    page.click("#template-send")
    page.wait_for_selector(f".pane-notice:has-text('{sent}'), [role=status]:has-text('{sent}')")
    page.wait_for_selector("#history-messages .badge-template")
    screenshot(page, f"inbox-template-sent-{language}")
    assert Message.objects.filter(conversation=conversation, kind="template").count() == 1
    # From the contact panel: a new conversation with the same customer reuses the open one.
    page.click("#start-with-contact")
    page.wait_for_selector("#start-form")
    settled(page)
    page.select_option("#template-choice", label=page.locator("#template-choice option").nth(1).inner_text())
    page.wait_for_selector("#start-form #template-preview")
    settled(page)
    for ref, value in (("header.1", "1"), ("body.2", "hoje"), ("button.1.1", "1")):
        page.fill(f"input[name='v:{ref}']", value)
    page.wait_for_selector("#start-form #template-preview:has-text('seu pedido chega hoje')")
    screenshot(page, f"inbox-start-{language}")
    page.click("#start-send")
    page.wait_for_url(f"**/inbox/?c={conversation.pk}")
    assert Message.objects.filter(conversation=conversation, kind="template").count() == 2
    assert page.console_errors == [], page.console_errors
    page.context.close()
