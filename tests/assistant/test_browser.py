"""End to end in headless Chromium against Daphne, with the providers replaced by the local fakes.

Screenshots go to ``test-output/screenshots/assistant-*.png``.
"""

from __future__ import annotations

import pytest

from conversations.models import AuthorType, Message
from tests.assistant.fakes import Ok
from tests.browser import browser, screenshot  # noqa: F401
from tests.inbox.conftest import desk  # noqa: F401
from tests.inbox.live import daphne  # noqa: F401
from tests.inbox.test_browser import inbound, new_page, open_inbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SUGGESTION = "Olá Maria! Sinto muito pelo atraso do pedido 1234, vou verificar agora mesmo."
SUMMARY = "Cliente Maria: pedido 1234 atrasado. Agente prometeu verificar hoje."


def test_suggest_edit_send_and_a_summary_on_transfer(desk, ai_org, fake_openai, browser, daphne):  # noqa: F811
    conversation = inbound(desk, phone="+5511987650001", body="Meu pedido 1234 não chegou", name="Maria").conversation
    fake_openai.queue(Ok(SUGGESTION, tokens_in=120, tokens_out=30), Ok(SUMMARY, tokens_in=140, tokens_out=20))

    agent = new_page(browser)
    open_inbox(agent, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}")
    agent.wait_for_selector("#assistant-actions #ai-suggest")
    screenshot(agent, "assistant-bar-en")
    agent.click("#ai-suggest")
    agent.wait_for_function(
        "(text) => document.getElementById('reply-body').value === text && document.querySelector('#assistant-actions').dataset.busy === '0'",
        arg=SUGGESTION,
    )
    screenshot(agent, "assistant-suggested-en")
    # The suggestion waits in the composer: nothing went to the customer.
    assert not Message.objects.filter(conversation=conversation, author_type=AuthorType.AGENT).exists()
    edited = SUGGESTION + " Obrigado pela paciência!"
    agent.fill("#reply-body", edited)
    agent.click("#reply-send")
    agent.wait_for_selector("#history-messages .msg-outbound:has-text('Obrigado pela paciência!')")
    assert list(
        Message.objects.filter(conversation=conversation, author_type=AuthorType.AGENT).values_list("body", flat=True)
    ) == [edited]

    agent.wait_for_selector("#assistant-actions #ai-summarize")
    agent.click("#ai-summarize")
    agent.wait_for_function("(text) => document.getElementById('transfer-summary').value === text", arg=SUMMARY)
    screenshot(agent, "assistant-summary-en")
    agent.select_option("#transfer-agent", str(desk.admin.pk))
    agent.click("details.more-actions form:has(#transfer-summary) button[type=submit]")
    agent.wait_for_selector("#pane .msg-system:has-text('Summary:')")
    system = Message.objects.filter(conversation=conversation, author_type=AuthorType.SYSTEM).latest("id")
    assert f"Summary: {SUMMARY}" in system.body
    screenshot(agent, "assistant-transferred-en")

    prompts = [request.body for request in fake_openai.requests]
    assert all(request["stream"] for request in prompts)
    assert "Meu pedido 1234 não chegou" in prompts[0]["messages"][1]["content"]
    assert edited in prompts[1]["messages"][1]["content"]  # the summary saw the reply that was sent
    assert agent.console_errors == [], agent.console_errors
    agent.context.close()


def test_viewer_sees_no_ai_actions_portuguese_labels_and_the_settings_page(desk, ai_org, browser, daphne):  # noqa: F811
    conversation = inbound(desk, phone="+5511987650002", body="Preciso de ajuda", name="João").conversation
    viewer = new_page(browser)
    open_inbox(viewer, daphne, desk.tenant.viewer.email, f"/inbox/?c={conversation.pk}")
    viewer.wait_for_selector("#readonly-note")
    assert (
        viewer.locator("#assistant-slot, #assistant-actions, #ai-suggest, #ai-summarize, #transfer-summary").count()
        == 0
    )
    screenshot(viewer, "assistant-viewer-en")
    viewer.context.close()

    agent = new_page(browser, locale="pt-BR")
    open_inbox(agent, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}", language="pt-br")
    agent.wait_for_selector("#assistant-actions #ai-suggest")
    assert agent.locator("#ai-suggest").inner_text() == "Sugerir resposta"
    screenshot(agent, "assistant-bar-pt-br")
    assert agent.console_errors == [], agent.console_errors
    agent.context.close()

    admin = new_page(browser)
    open_inbox(admin, daphne, desk.tenant.admin.email)
    admin.goto(f"{daphne.url}/settings/ai/")
    first = ai_org.org.assistant_providers.order_by("position").first()
    admin.click(f"tr[data-provider-id='{first.pk}'] .provider-test")
    admin.wait_for_selector(f"#test-result-{first.pk}.test-ok:has-text('Connected: gpt-4o-mini answered in')")
    assert "SECRET" not in admin.content()
    screenshot(admin, "assistant-settings-en")
    admin.goto(f"{daphne.url}/settings/usage/")
    admin.wait_for_selector("#ai-usage-panel #ai-usage-history")
    screenshot(admin, "assistant-usage-en")
    assert admin.console_errors == [], admin.console_errors
    admin.context.close()
