"""The agent's workspace end to end in headless Chromium against Daphne, in English and Portuguese:
an SLA badge turning to warning live, snooze and wake-up, a mention notifying a teammate, a bulk
close, and the CSAT round trip over the local Graph API server.

Screenshots go to ``test-output/screenshots/workspace-*.png``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.roles import Role
from conversations import services
from conversations.models import Conversation, CsatSurvey, Status
from conversations.services import csat
from notifications.models import NotificationLog
from notifications.services import outbox
from tests import factories
from tests.browser import browser, screenshot  # noqa: F401
from tests.conversations import factories as cf
from tests.conversations.test_outbound import GRAPH_OK
from tests.inbox.live import daphne  # noqa: F401
from tests.inbox.test_browser import new_page, off_loop, open_inbox
from tests.inbox.test_outreach_browser import settled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _waiting(desk, name: str, body: str = "Oi") -> Conversation:
    return off_loop(
        services.inbound_message_receive, channel=desk.whatsapp, phone=cf.phone(), body=body, name=name
    ).message.conversation


@pytest.mark.parametrize("language,locale", [("en", "en-US"), ("pt-br", "pt-BR")])
def test_an_sla_badge_turns_to_warning_live(desk, browser, daphne, language, locale):  # noqa: F811
    desk.queue.sla_first_response_minutes = 30
    desk.queue.save()
    conversation = _waiting(desk, "Helena Prado")
    page = new_page(browser, locale=locale)
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}", language=language)
    badge = f".conv-item[data-conversation-id='{conversation.pk}'] .sla-badge"
    page.wait_for_selector(f"{badge}[data-sla-state=ok]")
    page.wait_for_selector("#pane-work .sla-badge[data-sla-state=ok]")
    page.wait_for_selector("#sla-timeline [data-timeline=started]")
    screenshot(page, f"workspace-sla-ok-{language}")
    # The warning now falls due two seconds from now; the customer writes again, so the list item the
    # tab receives carries the new instants. Nothing is sent by the server when the warning falls due.
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_warning_at=timezone.now() + dt.timedelta(seconds=2)
    )
    daphne.post_webhook(
        desk.whatsapp, phone=conversation.contact.phone, name="Helena Prado", body="Alô?", message_id="wamid.sla"
    )
    page.wait_for_selector(f"{badge}[data-sla-state=warning].sla-warning")
    assert page.evaluate("window.__loadedOnce === true")  # live, without a reload
    assert page.locator(badge).inner_text().strip()  # a countdown, in the page's language
    screenshot(page, f"workspace-sla-warning-{language}")
    # The sweep's warning reaches the tab too: the pane and its timeline show it without a reload.
    off_loop(services.sla_sweep, now=timezone.now() + dt.timedelta(seconds=3))
    page.wait_for_selector("#sla-timeline [data-timeline=warned]")
    page.wait_for_selector("#pane-work .sla-badge[data-sla-state=warning]")
    # The list filter "breaching soon" keeps it.
    page.check("#filter-sla-soon")
    page.wait_for_url("**sla=soon**")
    settled(page)
    page.wait_for_selector(f"#conv-list .conv-item[data-conversation-id='{conversation.pk}']")
    screenshot(page, f"workspace-sla-filter-{language}")
    assert page.console_errors == [], page.console_errors
    page.context.close()


def test_snooze_and_wake_up(desk, browser, daphne):  # noqa: F811
    conversation = _waiting(desk, "Rafael Lima")
    off_loop(services.conversation_assign, conversation=conversation, membership=desk.agent)
    page = new_page(browser, locale="pt-BR")
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}", language="pt-br")
    item = f"#conv-list .conv-item[data-conversation-id='{conversation.pk}']"
    page.wait_for_selector(item)
    page.click("#snooze-menu summary")
    page.check("#snooze-form input[value='1h']")
    page.click("#action-snooze")
    page.wait_for_selector("#pane-snoozed")
    page.wait_for_selector(item, state="detached")  # gone from the active list
    page.wait_for_selector("#sla-timeline [data-timeline=paused]")
    screenshot(page, "workspace-snoozed-pt-br")
    conversation.refresh_from_db()
    assert conversation.snoozed_until is not None
    # The Beat job's run an hour later wakes it: back in the list, live.
    assert off_loop(services.snooze_wake_due, now=conversation.snoozed_until + dt.timedelta(seconds=1)) == 1
    page.wait_for_selector(item)
    page.wait_for_selector("#sla-timeline [data-timeline=resumed]")
    assert page.locator("#pane-snoozed").count() == 0
    screenshot(page, "workspace-woken-pt-br")
    # Snoozed until the customer replies: their message wakes it at once.
    page.click("#snooze-menu summary")
    page.check("#snooze-form input[value='reply']")
    page.click("#action-snooze")
    page.wait_for_selector(item, state="detached")
    daphne.post_webhook(
        desk.whatsapp,
        phone=conversation.contact.phone,
        name="Rafael Lima",
        body="Alguma novidade?",
        message_id="wamid.wake",
    )
    page.wait_for_selector(f"{item}:has-text('Alguma novidade?')")
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    assert page.console_errors == [], page.console_errors
    page.context.close()


def test_a_mention_notifies_a_teammate(desk, browser, daphne):  # noqa: F811
    bruno = factories.member(desk.tenant.org, Role.AGENT, email="bruno@alpha.test", full_name="Bruno Costa")
    desk.queue.agents.add(bruno)
    conversation = _waiting(desk, "Lívia Reis")
    off_loop(services.conversation_assign, conversation=conversation, membership=desk.agent)
    teammate = new_page(browser)
    open_inbox(teammate, daphne, bruno.user.email)
    author = new_page(browser)
    open_inbox(author, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}")
    author.check("#note-toggle")
    author.click("#reply-body")
    author.keyboard.type("Can you check the invoice, @bru")
    author.wait_for_selector("#mention-list li:has-text('Bruno Costa')")
    screenshot(author, "workspace-mention-autocomplete-en")
    author.keyboard.press("Enter")
    assert author.locator("#reply-body").input_value() == "Can you check the invoice, @bruno "
    author.keyboard.type("please?")
    author.press("#reply-body", "Control+Enter")
    author.wait_for_selector("#history-messages .msg-note:has-text('@bruno please?')")
    row = NotificationLog.objects.get(event_type="mention", user=bruno.user, channel="in_app")
    off_loop(outbox.notification_deliver, log_id=row.pk)  # the worker's part
    teammate.wait_for_selector("[data-notification-badge]:has-text('1')")
    teammate.goto(f"{daphne.url}/notifications/")
    teammate.wait_for_selector(f"main :text('{desk.tenant.agent.get_full_name()} mentioned you')")
    screenshot(teammate, "workspace-mention-center-en")
    assert author.console_errors == [] and teammate.console_errors == []
    author.context.close()
    teammate.context.close()


def test_a_bulk_close(desk, browser, daphne):  # noqa: F811
    desk.queue.routing_strategy = "manual"
    desk.queue.save()
    first, second, kept = (_waiting(desk, name) for name in ("Ana Souza", "Beto Alves", "Caio Dias"))
    page = new_page(browser, locale="pt-BR")
    open_inbox(page, daphne, desk.tenant.agent.email, language="pt-br")
    for conversation in (first, second):
        page.check(f".conv-item[data-conversation-id='{conversation.pk}'] .conv-select")
    page.wait_for_selector("#bulk-count:has-text('2')")
    page.select_option("#bulk-action", "close")
    screenshot(page, "workspace-bulk-selected-pt-br")
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-notice:has-text('2 conversas concluídas.')")
    settled(page)
    assert page.locator(f".conv-item[data-conversation-id='{first.pk}']").count() == 0
    assert page.locator(f".conv-item[data-conversation-id='{kept.pk}']").count() == 1
    screenshot(page, "workspace-bulk-done-pt-br")
    statuses = dict(Conversation.objects.filter(pk__in=[first.pk, second.pk, kept.pk]).values_list("pk", "status"))
    assert statuses == {first.pk: Status.CLOSED, second.pk: Status.CLOSED, kept.pk: Status.OPEN}
    assert page.console_errors == [], page.console_errors
    page.context.close()


def test_the_csat_round_trip(desk, browser, daphne, httpserver, settings):  # noqa: F811
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")  # the worker's sends (this process)
    desk.queue.csat_enabled = True
    desk.queue.save()
    conversation = _waiting(desk, "Marta Gomes", body="Obrigada pela ajuda")
    off_loop(services.conversation_assign, conversation=conversation, membership=desk.agent)
    page = new_page(browser)
    open_inbox(page, daphne, desk.tenant.agent.email, f"/inbox/?c={conversation.pk}")
    page.click("#action-close")
    page.wait_for_selector("#action-reopen")
    survey = CsatSurvey.objects.get(conversation=conversation)
    row = NotificationLog.objects.get(event_type="csat_survey")
    httpserver.expect_oneshot_request(
        f"/v21.0/{desk.whatsapp.phone_number_id}/messages", method="POST"
    ).respond_with_json(GRAPH_OK)
    off_loop(outbox.notification_deliver, log_id=row.pk)
    httpserver.check_assertions()
    sent = httpserver.log[0][0].get_json()
    assert sent["type"] == "interactive" and sent["interactive"]["type"] == "list"
    page.wait_for_selector("#csat-result:has-text('Survey sent')")
    # The customer picks "4" in WhatsApp's list: its id comes back through the webhook.
    four = next(r for r in sent["interactive"]["action"]["sections"][0]["rows"] if csat.parse_payload(r["id"])[1] == 4)
    payload = daphne_list_reply(desk, conversation.contact.phone, four["id"], four["title"])
    assert daphne.post_raw(desk.whatsapp, payload)["messages_stored"] == 1
    page.wait_for_selector("#pane-csat:has-text('4/5')")
    page.wait_for_selector("#csat-result .csat-score:has-text('4/5')")
    screenshot(page, "workspace-csat-en")
    survey.refresh_from_db()
    assert survey.score == 4 and survey.agent_id == desk.agent.pk
    assert Conversation.objects.filter(contact=conversation.contact).count() == 1
    assert page.console_errors == [], page.console_errors
    page.context.close()


def daphne_list_reply(desk, phone: str, row_id: str, title: str) -> dict:
    import time

    from conversations.channels import whatsapp

    payload = whatsapp.text_notification(
        phone_number_id=desk.whatsapp.phone_number_id,
        display_phone=desk.whatsapp.display_phone,
        wa_id=phone.lstrip("+"),
        name="Marta Gomes",
        body="",
        message_id="wamid.csat",
        timestamp=int(time.time()),
    )
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="interactive", interactive={"type": "list_reply", "list_reply": {"id": row_id, "title": title}})
    return payload


def test_the_dashboard_shows_my_work_and_the_queues(desk, browser, daphne):  # noqa: F811
    desk.queue.routing_strategy = "manual"
    desk.queue.save()
    mine = _waiting(desk, "Paula Nunes")
    off_loop(services.conversation_assign, conversation=mine, membership=desk.agent)
    _waiting(desk, "Quim Barros")  # waits in the queue
    agent = new_page(browser, locale="pt-BR")
    open_inbox(agent, daphne, desk.tenant.agent.email, language="pt-br")  # online: a live inbox tab
    inbox_tab, agent = agent, agent.context.new_page()
    agent.console_errors = []
    agent.goto(f"{daphne.url}/")
    agent.wait_for_selector("#my-work [data-work=open]:text('1')")
    agent.wait_for_selector("#today-appointments")
    screenshot(agent, "workspace-dashboard-agent-pt-br")
    admin = new_page(browser)
    open_inbox(admin, daphne, desk.tenant.admin.email)
    admin.goto(f"{daphne.url}/")
    admin.wait_for_selector(f"#queue-overview tr[data-queue='{desk.queue.pk}'] [data-waiting]:text('1')")
    admin.wait_for_selector(f"#online-agents:has-text('{desk.tenant.agent.get_full_name()}')")
    screenshot(admin, "workspace-dashboard-admin-en")
    assert inbox_tab.console_errors == [] and admin.console_errors == []
    agent.context.close()
    admin.context.close()
