"""The inbox page and its actions, through the test client (real PostgreSQL and Redis)."""

from __future__ import annotations

import pytest

from conversations import services
from conversations.models import Message, Status
from tests.conversations import factories as cf
from tests.inbox.conftest import inbound

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def hx(target: str) -> dict:
    return HX | {"HTTP_HX_TARGET": target}


def test_agent_sees_the_list_and_opens_a_conversation(desk, client_for):
    message = inbound(desk, "Olá, preciso de ajuda", name="Maria Souza")
    client = client_for(desk.tenant.agent)
    page = client.get("/inbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Maria Souza" in html and "Olá, preciso de ajuda" in html
    assert 'id="inbox-list"' in html and 'id="inbox-pane"' in html
    opened = client.get(f"/inbox/?c={message.conversation_id}").content.decode()
    assert 'id="composer"' in opened and f'data-message-id="{message.pk}"' in opened


def test_a_customer_message_with_html_renders_as_text(desk, client_for):
    message = inbound(desk, XSS)
    html = client_for(desk.tenant.agent).get(f"/inbox/?c={message.conversation_id}").content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_htmx_requests_get_the_named_partial(desk, client_for):
    message = inbound(desk, "first")
    client = client_for(desk.tenant.agent)
    listing = client.get("/inbox/?view=all", **hx("inbox-list")).content.decode()
    assert 'id="conv-list"' in listing and "<html" not in listing and 'id="pane"' not in listing
    pane = client.get(f"/inbox/?c={message.conversation_id}", **hx("inbox-pane")).content.decode()
    assert 'id="pane"' in pane and 'id="conv-list"' not in pane and "<html" not in pane
    newer = inbound(desk, "second", phone=message.conversation.contact.phone)
    after = client.get(
        f"/inbox/?c={message.conversation_id}&after={message.pk}", **hx("history-messages")
    ).content.decode()
    assert f'data-message-id="{newer.pk}"' in after and f'data-message-id="{message.pk}"' not in after
    assert 'class="msg' in after and "<html" not in after


def test_older_messages_load_by_page(desk, client_for):
    first = inbound(desk, "message 0")
    for n in range(1, 35):
        inbound(desk, f"message {n}", phone=first.conversation.contact.phone)
    client = client_for(desk.tenant.agent)
    html = client.get(f"/inbox/?c={first.conversation_id}").content.decode()
    ids = list(
        Message.objects.filter(conversation_id=first.conversation_id).order_by("id").values_list("pk", flat=True)
    )
    assert f'data-message-id="{ids[-1]}"' in html and f'data-message-id="{ids[0]}"' not in html
    assert f"before={ids[5]}" in html  # the sentinel asks for what precedes the first shown
    older = client.get(f"/inbox/?c={first.conversation_id}&before={ids[5]}", **hx("this")).content.decode()
    assert all(f'data-message-id="{pk}"' in older for pk in ids[:5]) and "older-sentinel" not in older


def test_filters_counts_and_search(desk, client_for):
    mine = cf.conversation(desk.tenant.org, queue=desk.queue)  # auto-assigned? the queue strategy decides
    services.conversation_assign(conversation=mine, membership=desk.agent)
    unassigned = inbound(desk, "the invoice number is 4471", name="Bruno").conversation
    services.conversation_assign(conversation=unassigned, membership=desk.admin)
    services.conversation_transfer(conversation=unassigned, by=desk.admin.user, to_queue=cf_queue(desk))
    unassigned.refresh_from_db()
    client = client_for(desk.tenant.agent)

    html = client.get("/inbox/?view=mine", **hx("inbox-list")).content.decode()
    assert f'data-conversation-id="{mine.pk}"' in html and f'data-conversation-id="{unassigned.pk}"' not in html
    assert 'data-count="mine">1<' in html and 'data-count="all">2<' in html

    html = client.get("/inbox/?q=invoice+number", **hx("inbox-list")).content.decode()
    assert f'data-conversation-id="{unassigned.pk}"' in html and f'data-conversation-id="{mine.pk}"' not in html
    phone_digits = mine.contact.phone[-6:]
    html = client.get(f"/inbox/?q={phone_digits}", **hx("inbox-list")).content.decode()
    assert f'data-conversation-id="{mine.pk}"' in html and f'data-conversation-id="{unassigned.pk}"' not in html
    html = client.get("/inbox/?q=nothing-like-this", **hx("inbox-list")).content.decode()
    assert "No conversation matches" in html

    services.conversation_close(conversation=mine)
    html = client.get("/inbox/?status=closed", **hx("inbox-list")).content.decode()
    assert f'data-conversation-id="{mine.pk}"' in html and f'data-conversation-id="{unassigned.pk}"' not in html
    html = client.get(f"/inbox/?queue={desk.queue.pk}&priority=medium", **hx("inbox-list")).content.decode()
    assert f'data-conversation-id="{unassigned.pk}"' not in html


def cf_queue(desk):
    from tests import factories

    return factories.queue(desk.tenant.org, name="Billing", routing_strategy="manual")


@pytest.mark.parametrize(
    "query",
    ["view=nope&status=x&page=-3&queue=abc&priority=!!", "c=abc", "c=999999999", "page=99999999999", "q=" + "x" * 500],
)
def test_bad_query_input_never_breaks_the_page(desk, client_for, query):
    response = client_for(desk.tenant.agent).get(f"/inbox/?{query}")
    assert response.status_code in (200, 404)
    if response.status_code == 404:
        assert "does not exist or you may not see it" in response.content.decode()


def test_viewer_reads_but_cannot_act(desk, client_for):
    message = inbound(desk, "viewer can read this")
    client = client_for(desk.tenant.viewer)
    html = client.get(f"/inbox/?c={message.conversation_id}").content.decode()
    assert "viewer can read this" in html and 'id="readonly-note"' in html
    assert 'id="composer"' not in html and 'value="close"' not in html and 'id="pull-next"' not in html
    conversation_id = message.conversation_id
    assert client.post(f"/inbox/{conversation_id}/act/", {"action": "close"}).status_code == 403
    assert client.post(f"/inbox/{conversation_id}/reply/", {"body": "hi"}).status_code == 403
    assert client.post("/inbox/next/").status_code == 403
    assert Message.objects.filter(conversation_id=conversation_id).count() == 1


def test_another_organization_cannot_see_or_act(desk, tenant_b, client_for):
    message = inbound(desk, "private to alpha")
    client = client_for(tenant_b.agent)
    response = client.get(f"/inbox/?c={message.conversation_id}")
    assert response.status_code == 404 and "private to alpha" not in response.content.decode()
    missing = client.get("/inbox/?c=987654321")
    assert missing.status_code == 404
    # The same answer for a foreign conversation and a missing one.
    assert missing.content.decode().replace("987654321", "").count("does not exist") == response.content.decode().count(
        "does not exist"
    )
    assert client.post(f"/inbox/{message.conversation_id}/act/", {"action": "close"}).status_code == 404
    assert client.post(f"/inbox/{message.conversation_id}/reply/", {"body": "x"}).status_code == 404
    assert "private to alpha" not in client.get("/inbox/?q=private").content.decode()


def test_actions_go_through_the_services(desk, client_for):
    conversation = inbound(desk, "help").conversation
    client = client_for(desk.tenant.agent)
    url = f"/inbox/{conversation.pk}/act/"
    response = client.post(url, {"action": "assign_me", "state": "view=mine"}, **hx("inbox-pane"))
    assert response.status_code == 200 and "Assigned to you." in response.content.decode()
    assert "inbox:list-changed" in response.headers["HX-Trigger"]
    conversation.refresh_from_db()
    assert conversation.assignee == desk.agent

    assert client.post(url, {"action": "priority", "priority": "urgent"}, **hx("inbox-pane")).status_code == 200
    conversation.refresh_from_db()
    assert conversation.priority == "urgent"

    response = client.post(url, {"action": "close", "state": "view=mine&status=open"})
    assert response.status_code == 302 and response.url == f"/inbox/?view=mine&status=open&c={conversation.pk}"
    conversation.refresh_from_db()
    assert conversation.status == Status.CLOSED

    refused = client.post(url, {"action": "close"}, **hx("inbox-pane"))
    assert refused.status_code == 422 and "already closed" in refused.content.decode()
    assert client.post(url, {"action": "reopen"}, **hx("inbox-pane")).status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN

    other = cf_queue(desk)
    response = client.post(
        url, {"action": "transfer", "queue": other.pk, "agent": desk.admin.pk, "reason": "billing"}, **hx("inbox-pane")
    )
    assert response.status_code == 200, response.content.decode()
    conversation.refresh_from_db()
    assert conversation.queue == other and conversation.assignee == desk.admin

    assert client.post(url, {"action": "assign", "agent": desk.viewer.pk}, **hx("inbox-pane")).status_code == 422
    assert client.post(url, {"action": "explode"}, **hx("inbox-pane")).status_code == 422
    assert client.post(url, {"action": "priority", "priority": "extreme"}, **hx("inbox-pane")).status_code == 422


def test_reply_and_internal_note_over_post(desk, client_for, django_capture_on_commit_callbacks):
    conversation = inbound(desk, "help").conversation
    client = client_for(desk.tenant.agent)
    url = f"/inbox/{conversation.pk}/reply/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"body": "We are on it"}, **hx("inbox-pane"))
    assert response.status_code == 200 and "We are on it" in response.content.decode()
    reply = Message.objects.get(conversation=conversation, body="We are on it")
    assert reply.author == desk.tenant.agent and not reply.is_internal_note
    client.post(url, {"body": "VIP customer", "note": "1"}, **hx("inbox-pane"))
    assert Message.objects.get(conversation=conversation, body="VIP customer").is_internal_note
    empty = client.post(url, {"body": "   "}, **hx("inbox-pane"))
    assert empty.status_code == 422 and "Write a message" in empty.content.decode()
    plain = client.post(url, {"body": "no js"})
    assert plain.status_code == 302 and plain.url.endswith(f"c={conversation.pk}")


def test_an_over_long_reply_is_refused_with_the_limit_and_stays_in_the_reply_box(desk, client_for):
    conversation = services.inbound_message_receive(
        channel=desk.whatsapp, phone=cf.phone(), body="help"
    ).message.conversation
    client = client_for(desk.tenant.agent)
    page = client.get(f"/inbox/?c={conversation.pk}").content.decode()
    reply_box = page[page.index('<textarea id="reply-body"') :].split(">", 1)[0]
    assert 'data-max-chars="4096"' in reply_box and "maxlength" not in reply_box  # a browser cuts pastes silently
    assert "conversations/char-counter.js" in page
    too_long = "a" * 4097
    response = client.post(f"/inbox/{conversation.pk}/reply/", {"body": too_long}, **hx("inbox-pane"))
    body = response.content.decode()
    assert response.status_code == 422
    assert "at most 4096 characters; this one has 4097" in body
    assert f">{too_long}</textarea>" in body  # handed back, not lost
    assert not Message.objects.filter(conversation=conversation, body__startswith="aaaa").exists()
    exact = client.post(f"/inbox/{conversation.pk}/reply/", {"body": "b" * 4096}, **hx("inbox-pane"))
    assert exact.status_code == 200
    assert Message.objects.get(conversation=conversation, body__startswith="bbbb").body == "b" * 4096


def test_pull_next_takes_the_oldest_waiting(desk, client_for):
    desk.queue.routing_strategy = "manual"
    desk.queue.save(update_fields=["routing_strategy"])
    waiting = inbound(desk, "waiting").conversation
    assert waiting.assignee_id is None
    client = client_for(desk.tenant.agent)
    response = client.post("/inbox/next/", {"state": "view=mine"}, **hx("inbox-pane"))
    assert response.status_code == 200 and response.headers["HX-Push-Url"] == f"/inbox/?view=mine&c={waiting.pk}"
    waiting.refresh_from_db()
    assert waiting.assignee == desk.agent
    nothing = client.post("/inbox/next/", **hx("inbox-pane"))
    assert "No conversation is waiting" in nothing.content.decode()


def test_canned_responses_are_offered_in_the_reply_box(desk, tenant_b, client_for):
    cf.canned_response(desk.tenant.org, shortcut="greeting", title="Greeting", body="Hello! <b>How</b> can we help?")
    cf.canned_response(tenant_b.org, shortcut="beta-only", title="Beta", body="Beta")
    conversation = inbound(desk, "hi").conversation
    html = client_for(desk.tenant.agent).get(f"/inbox/?c={conversation.pk}").content.decode()
    assert "/greeting · Greeting" in html and 'data-body="Hello! &lt;b&gt;How&lt;/b&gt; can we help?"' in html
    assert "beta-only" not in html


def test_inbox_in_portuguese(desk, client_for):
    client = client_for(desk.tenant.agent)
    client.cookies["django_language"] = "pt-br"
    html = client.get("/inbox/").content.decode()
    assert "Caixa de entrada" in html and "Pegar a próxima conversa" in html


def test_the_contact_panel_lists_the_contacts_appointments(desk, tenant_b, client_for):
    from tests.scheduling import factories as sf

    message = inbound(desk, "quero remarcar", name="Carla")
    contact = message.conversation.contact
    sf.appointment(
        desk.tenant.org, svc=sf.service(desk.tenant.org, name="Corte de cabelo"), phone=contact.phone, name="Carla"
    )
    sf.appointment(tenant_b.org, svc=sf.service(tenant_b.org, name="Beta service"), phone=contact.phone)
    html = client_for(desk.tenant.agent).get(f"/inbox/?c={message.conversation_id}").content.decode()
    panel = html[html.index('id="contact-appointments"') :]
    assert "Corte de cabelo" in panel and "Beta service" not in panel
