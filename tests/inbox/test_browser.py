"""End to end in headless Chromium against a real Daphne process: the inbox is live.

Screenshots go to ``test-output/screenshots/inbox-*.png``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django import db

from accounts.models import AgentStatus, Membership, User
from conversations import services
from conversations.models import Conversation, Message
from tests import factories
from tests.browser import browser, log_in, screenshot  # noqa: F401
from tests.conversations import factories as cf
from tests.inbox.live import daphne  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def off_loop(func, /, **kwargs):
    """Run a service in a plain thread: Playwright's sync API keeps an event loop in this one, and
    the realtime listeners (``async_to_sync``) must not run inside a running loop."""

    def call():
        try:
            return func(**kwargs)
        finally:
            db.connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def inbound(desk, **kwargs):
    return off_loop(services.inbound_message_receive, channel=desk.channel, **kwargs).message


def new_page(browser, locale: str = "en-US"):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale=locale)
    page = context.new_page()
    page.console_errors = []
    page.dialogs = []
    page.on(
        "console",
        lambda message: (
            page.console_errors.append(f"{message.text} at {page.url} {message.location}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.websockets = []
    page.on("websocket", lambda socket: page.websockets.append(socket.url))
    return page


def open_inbox(page, server, email: str, path: str = "/inbox/", language: str = "en"):
    User.objects.filter(email=email).update(language=language)  # applied at login
    log_in(page, server.url, email, factories.PASSWORD)
    page.websockets.clear()  # count only the sockets the inbox document opens
    page.goto(server.url + path)
    page.wait_for_selector("#ws-status[data-state=live]")
    page.evaluate("window.__loadedOnce = true")  # gone if the page ever reloads
    # A CSP violation names the element it was about in the console errors (which must stay empty).
    page.evaluate(
        "document.addEventListener('securitypolicyviolation', e => console.error('CSPV ' + e.violatedDirective + ' ' + (e.target && e.target.outerHTML ? e.target.outerHTML.slice(0,300) : e.target) + ' ' + e.sample))"
    )


def still_same_document(page) -> bool:
    return page.evaluate("window.__loadedOnce === true")


def test_webhook_reply_typing_presence_and_inert_script(desk, browser, daphne):  # noqa: F811
    alice, boss = desk.tenant.agent, desk.tenant.admin
    agent = new_page(browser)
    open_inbox(agent, daphne, alice.email)
    assert agent.locator(".conv-empty").is_visible()
    screenshot(agent, "inbox-empty-en")

    other = new_page(browser)
    open_inbox(other, daphne, boss.email)
    # Presence: the agent's page sees the admin come online without reloading.
    agent.wait_for_selector(f"[data-presence-user='{boss.pk}'][data-status=online]")

    result = daphne.post_webhook(
        desk.whatsapp, phone="+5511987650001", name="Maria Souza", body=XSS, message_id="wamid.e2e-1"
    )
    assert result["messages_stored"] == 1
    # A locator, not an element handle: a live list update may replace the item before the click.
    item = agent.locator("#conv-list .conv-item:has-text('Maria Souza')")
    item.wait_for()
    assert still_same_document(agent)
    # One websocket per tab: the inbox's own carries the notification badge too.
    assert [url.rsplit("/", 2)[-2] for url in agent.websockets] == ["inbox"]
    conversation = Conversation.objects.get(contact__name="Maria Souza")
    screenshot(agent, "inbox-new-inbound-en")

    item.click()
    agent.wait_for_selector(f"#pane[data-conversation-id='{conversation.pk}']")
    body = agent.locator("#history-messages .msg-body").first
    assert body.inner_text() == XSS
    assert agent.locator("#history-messages script, #history-messages img").count() == 0
    assert agent.dialogs == []
    assert f"c={conversation.pk}" in agent.url

    other.goto(f"{daphne.url}/inbox/?c={conversation.pk}")
    other.wait_for_selector("#ws-status[data-state=live]")

    if agent.locator("#action-assign-me").count():  # routing may already have given it to her
        agent.click("#action-assign-me")
        agent.wait_for_selector("#pane .notice")
    agent.fill("#reply-body", "")
    agent.type("#reply-body", "Olá Maria, já vou ver isso")
    other.wait_for_selector("#typing:has-text('is typing')")
    assert alice.get_short_name() in other.locator("#typing").inner_text()
    screenshot(other, "inbox-typing-en")

    agent.press("#reply-body", "Control+Enter")
    other.wait_for_selector("#history-messages .msg-outbound:has-text('já vou ver isso')")
    agent.wait_for_selector("#history-messages .msg-outbound:has-text('já vou ver isso')")
    assert agent.locator("#reply-body").input_value() == ""
    assert (
        Message.objects.filter(conversation=conversation, body="Olá Maria, já vou ver isso", author=alice).count() == 1
    )
    # Read receipt: the admin's page has shown the reply, the agent sees it was seen.
    agent.wait_for_selector(f"#read-receipts:has-text('{boss.get_short_name()}')")
    screenshot(other, "inbox-live-reply-en")
    screenshot(agent, "inbox-agent-conversation-en")

    # A second inbound message on the open conversation appears live in both panes.
    daphne.post_webhook(
        desk.whatsapp, phone="+5511987650001", name="Maria Souza", body="Obrigada!", message_id="wamid.e2e-2"
    )
    for page in (agent, other):
        page.wait_for_selector("#history-messages .msg-inbound:has-text('Obrigada!')")
    assert still_same_document(agent)

    # The admin leaves: the agent sees them go offline.
    other.context.close()
    agent.wait_for_selector(f"[data-presence-user='{boss.pk}'][data-status=offline]")
    assert Membership.objects.get(pk=desk.admin.pk).status == AgentStatus.OFFLINE
    assert agent.dialogs == [], agent.dialogs
    assert agent.console_errors == [], agent.console_errors
    agent.context.close()


def test_viewer_reads_live_but_cannot_act(desk, browser, daphne):  # noqa: F811
    conversation = inbound(desk, phone=cf.phone(), body="Preciso de ajuda", name="João").conversation
    viewer = new_page(browser)
    open_inbox(viewer, daphne, desk.tenant.viewer.email, f"/inbox/?c={conversation.pk}")
    assert viewer.locator("#readonly-note").is_visible()
    assert viewer.locator("#composer, #action-close, #pull-next, #action-assign-me").count() == 0
    # Posting anyway (a forged form) is refused by the server.
    status = viewer.evaluate(
        """async (id) => (await fetch(`/inbox/${id}/reply/`, {method: "POST", headers: {"X-CSRFToken": JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]}, body: new URLSearchParams({body: "viewer"})})).status""",
        conversation.pk,
    )
    assert status == 403
    viewer.keyboard.press("c")
    viewer.keyboard.press("n")
    # A reply by an agent still shows up live for the viewer.
    off_loop(services.message_send, conversation=conversation, author=desk.agent, body="Resposta do agente")
    viewer.wait_for_selector("#history-messages .msg-outbound:has-text('Resposta do agente')")
    screenshot(viewer, "inbox-viewer-en")
    assert not Message.objects.filter(body="viewer").exists()
    conversation.refresh_from_db()
    assert conversation.is_active
    assert [error for error in viewer.console_errors if "403 (Forbidden)" not in error] == []
    viewer.context.close()


def test_keyboard_flow_in_portuguese(desk, browser, daphne):  # noqa: F811
    desk.queue.routing_strategy = "manual"
    desk.queue.save(update_fields=["routing_strategy"])
    for n in range(3):
        inbound(desk, phone=cf.phone(), body=f"Mensagem {n}", name=f"Cliente {n}")
    cf.canned_response(desk.tenant.org, shortcut="ola", title="Saudação", body="Olá! Como podemos ajudar?")
    page = new_page(browser, locale="pt-BR")
    open_inbox(page, daphne, desk.tenant.agent.email, language="pt-br")
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert "Caixa de entrada" in page.locator("h1.inbox-title").inner_text()
    screenshot(page, "inbox-list-pt-br")

    page.keyboard.press("n")  # take the next waiting conversation
    page.wait_for_selector("#pane[data-conversation-id]")
    taken = Conversation.objects.get(pk=page.locator("#pane").get_attribute("data-conversation-id"))
    assert taken.assignee_id == desk.agent.pk
    assert f"c={taken.pk}" in page.url
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-body"
    page.keyboard.type("/ola")
    page.keyboard.press("Tab")
    assert page.locator("#reply-body").input_value() == "Olá! Como podemos ajudar?"
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#history-messages .msg-outbound:has-text('Como podemos ajudar')")
    page.keyboard.press("Escape")
    screenshot(page, "inbox-conversation-pt-br")
    page.keyboard.press("c")  # close
    page.wait_for_selector("#pane[data-active='0']")
    taken.refresh_from_db()
    assert taken.status == "closed"
    # The URL keeps the state: a reload shows the same filters and conversation.
    page.goto(f"{daphne.url}/inbox/?status=closed&c={taken.pk}")
    page.reload()
    page.wait_for_selector(f"#pane[data-conversation-id='{taken.pk}']")
    assert page.locator("#conv-list .conv-item.is-open").get_attribute("data-conversation-id") == str(taken.pk)
    # J opens the next conversation of the list; Back and Forward move between the URLs.
    page.goto(f"{daphne.url}/inbox/")
    page.wait_for_selector("#ws-status[data-state=live]")
    page.keyboard.press("j")
    first = page.wait_for_selector("#pane[data-conversation-id]").get_attribute("data-conversation-id")
    page.keyboard.press("j")
    page.wait_for_selector(f"#pane[data-conversation-id]:not([data-conversation-id='{first}'])")
    second = page.locator("#pane").get_attribute("data-conversation-id")
    assert f"c={second}" in page.url
    page.go_back()
    page.wait_for_selector(f"#pane[data-conversation-id='{first}']")
    assert f"c={first}" in page.url
    page.go_forward()
    page.wait_for_selector(f"#pane[data-conversation-id='{second}']")
    assert page.locator("#ws-status").get_attribute("data-state") == "live"  # the same socket goes on
    page.keyboard.press("?")
    page.wait_for_selector("#shortcut-help[open]")
    screenshot(page, "inbox-shortcuts-pt-br")
    assert page.console_errors == []
    page.context.close()


def test_reconnect_resynchronizes_what_was_missed(desk, browser, daphne):  # noqa: F811
    conversation = inbound(desk, phone=cf.phone(), body="Primeira", name="Ana").conversation
    page = new_page(browser)
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}")
    daphne.stop()
    page.wait_for_selector("#ws-status[data-state=reconnecting]")
    # While the server is down, a message arrives (written straight through the service).
    inbound(desk, phone=conversation.contact.phone, body="Enquanto você estava fora")
    inbound(desk, phone=cf.phone(), body="Outra conversa", name="Bia")
    daphne.start()
    page.wait_for_selector("#ws-status[data-state=live]", timeout=30000)
    page.wait_for_selector("#history-messages .msg-inbound:has-text('Enquanto você estava fora')")
    page.wait_for_selector("#conv-list .conv-item:has-text('Bia')")
    assert still_same_document(page)
    assert page.locator("#history-messages [data-message-id]").count() == 2
    screenshot(page, "inbox-after-reconnect-en")
    page.context.close()


def test_the_reply_box_counts_characters_and_an_over_long_reply_is_refused_and_kept(desk, browser, daphne):  # noqa: F811
    conversation = off_loop(
        services.inbound_message_receive, channel=desk.whatsapp, phone=cf.phone(), body="Oi", name="Longa"
    ).message.conversation
    page = new_page(browser)
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}")
    counter = page.locator("#reply-counter")
    assert counter.inner_text() == "0 / 4096"
    page.type("#reply-body", "Olá 👋")
    assert counter.inner_text() == "5 / 4096"  # code points, as the server counts
    page.fill("#reply-body", "x" * 4097)  # a paste: nothing cuts it
    page.wait_for_selector("#reply-counter.is-over")
    assert counter.inner_text().startswith("4097 / 4096 · Too long: at most 4096 characters per message.")
    screenshot(page, "inbox-reply-counter-over-en")
    page.press("#reply-body", "Control+Enter")
    page.wait_for_selector("#composer-error:has-text('at most 4096 characters; this one has 4097')")
    assert page.locator("#reply-body").input_value() == "x" * 4097  # still there to shorten
    page.press("#reply-body", "End")
    page.press("#reply-body", "Backspace")
    page.wait_for_selector("#reply-counter:not(.is-over)")
    assert counter.inner_text() == "4096 / 4096"
    page.press("#reply-body", "Control+Enter")
    page.wait_for_selector("#history-messages .msg-outbound")
    assert page.locator("#reply-counter").inner_text() == "0 / 4096"
    assert Message.objects.get(conversation=conversation, direction="outbound").body == "x" * 4096
    assert page.console_errors == [], page.console_errors


def test_messages_during_a_server_restart_show_once_in_order_without_a_request(desk, browser, daphne):  # noqa: F811
    """The socket is cut while messages keep arriving; the tab replays them from the stream."""
    phone = "+5511987650077"
    daphne.post_webhook(desk.whatsapp, phone=phone, name="Carla", body="m01 antes", message_id="wamid.cut-01")
    conversation = Conversation.objects.get(contact__name="Carla")
    page = new_page(browser)
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}")
    fetches = []
    page.on("request", lambda request: fetches.append(request.url) if "/inbox/" in request.url else None)
    assert page.locator("#connection-banner").is_hidden()
    for n in (2, 3):
        daphne.post_webhook(
            desk.whatsapp, phone=phone, name="Carla", body=f"m{n:02} antes", message_id=f"wamid.cut-{n:02}"
        )
    page.wait_for_selector("#history-messages .msg-inbound:has-text('m03 antes')")

    daphne.stop()
    banner = page.locator("#connection-banner")
    banner.wait_for(state="visible")
    assert "Connection lost" in banner.inner_text()
    for n in range(4, 9):  # the server is down: these arrive through the service, straight into the stream
        off_loop(
            services.inbound_message_receive,
            channel=desk.whatsapp,
            phone=phone,
            body=f"m{n:02} durante",
            provider_message_id=f"wamid.cut-{n:02}",
        )
    screenshot(page, "inbox-connection-lost-en")
    assert page.locator("#history-messages .msg-inbound:has-text('durante')").count() == 0

    daphne.start()
    page.wait_for_selector("#ws-status[data-state=live]", timeout=30000)
    banner.wait_for(state="hidden")
    for n in (9, 10):
        daphne.post_webhook(
            desk.whatsapp, phone=phone, name="Carla", body=f"m{n:02} depois", message_id=f"wamid.cut-{n:02}"
        )
    page.wait_for_selector("#history-messages .msg-inbound:has-text('m10 depois')")
    screenshot(page, "inbox-after-restart-en")

    shown = page.locator("#history-messages .msg-inbound .msg-body").all_inner_texts()
    expected = [f"m{n:02} {'antes' if n < 4 else 'durante' if n < 9 else 'depois'}" for n in range(1, 11)]
    assert shown == expected  # every message, once, in order
    ids = [
        int(i)
        for i in page.locator("#history-messages [data-message-id]").evaluate_all(
            "items => items.map(item => item.dataset.messageId)"
        )
    ]
    assert ids == list(Message.objects.filter(conversation=conversation).order_by("id").values_list("pk", flat=True))
    assert still_same_document(page)
    # Shown from the events' own HTML: the pane and the list asked the server for nothing.
    assert [url for url in fetches if "after=" in url or "c=" in url] == [], fetches
    # Chromium logs the refused connections of the outage; nothing else may have gone wrong.
    refused = ("ERR_CONNECTION_REFUSED", "Error in connection establishment")
    assert [error for error in page.console_errors if not any(text in error for text in refused)] == []
    page.context.close()


def test_blocked_websockets_fall_back_to_polling(desk, browser, daphne):  # noqa: F811
    conversation = inbound(desk, phone=cf.phone(), body="Primeira", name="Davi").conversation
    page = new_page(browser)
    # A proxy that accepts the upgrade and then drops it: the socket never says hello.
    page.route_web_socket("**/ws/inbox/**", lambda socket: socket.close())
    User.objects.filter(email=desk.tenant.agent.email).update(language="en")
    log_in(page, daphne.url, desk.tenant.agent.email, factories.PASSWORD)
    page.goto(f"{daphne.url}/inbox/?c={conversation.pk}")
    page.wait_for_selector("#ws-status[data-state=polling]", timeout=30000)
    banner = page.locator("#connection-banner")
    assert banner.is_visible() and "blocked" in banner.inner_text()
    inbound(desk, phone=conversation.contact.phone, body="Chegou pela consulta")
    page.wait_for_selector("#history-messages .msg-inbound:has-text('Chegou pela consulta')", timeout=15000)
    assert page.locator("#history-messages [data-message-id]").count() == 2
    screenshot(page, "inbox-polling-en")
    page.context.close()
