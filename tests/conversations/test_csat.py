"""CSAT over WhatsApp: the survey leaves through the outbox to a local Graph API server when a
conversation closes, the customer's rating and comment come back through the signed webhook and join
the closed conversation, answered once; the queue's toggle decides."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.utils import translation

from accounts.models import Membership
from conversations import services
from conversations.channels import whatsapp
from conversations.models import Conversation, CsatStatus, CsatSurvey
from conversations.services import csat
from notifications.models import NotificationLog
from notifications.services import outbox
from tests import factories
from tests.conversations import factories as cf
from tests.conversations.test_outbound import GRAPH_OK

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+5511987650042"


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_HTTP_TIMEOUT = 2
    return httpserver


@pytest.fixture
def shop(tenant_a):
    queue = factories.queue(tenant_a.org, name="Vendas", routing_strategy="manual", csat_enabled=True)
    channel = cf.channel(tenant_a.org, queue=queue)
    agent = Membership.objects.get(organization=tenant_a.org, user=tenant_a.agent)
    return tenant_a, queue, channel, agent


def webhook(channel, message: dict) -> dict:
    payload = whatsapp.text_notification(
        phone_number_id=channel.phone_number_id,
        display_phone=channel.display_phone,
        wa_id=PHONE.lstrip("+"),
        name="Maria",
        body="",
        message_id="x",
        timestamp=int(time.time()),
    )
    payload["entry"][0]["changes"][0]["value"]["messages"] = [
        {"from": PHONE.lstrip("+"), "timestamp": str(int(time.time())), **message}
    ]
    body = json.dumps(payload).encode()
    response = Client().post(
        f"/webhooks/whatsapp/{channel.public_id}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=whatsapp.signature_for(body, channel.app_secret),
    )
    assert response.status_code == 200, response.content
    return response.json()


def list_reply(channel, row_id: str, title: str, wamid: str) -> dict:
    return webhook(
        channel,
        {
            "id": wamid,
            "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": title}},
        },
    )


def closed_conversation(shop) -> Conversation:
    tenant, _queue, channel, agent = shop
    webhook(channel, {"id": "wamid.first", "type": "text", "text": {"body": "Oi, meu pedido?"}})
    conversation = Conversation.objects.get(contact__phone=PHONE)
    services.conversation_assign(conversation=conversation, membership=agent, by=tenant.admin)
    services.conversation_close(conversation=conversation, by=tenant.agent)
    return conversation


def test_the_survey_round_trip(graph, shop):
    tenant, _queue, channel, agent = shop
    conversation = closed_conversation(shop)
    survey = CsatSurvey.objects.get(conversation=conversation)
    assert (survey.status, survey.agent_id) == (CsatStatus.SENT, agent.pk)
    row = NotificationLog.objects.get(event_type="csat_survey", recipient_contact_id=conversation.contact_id)
    assert row.transport == "whatsapp.direct"
    interactive = row.payload["message"]["interactive"]
    rows = interactive["action"]["sections"][0]["rows"]
    assert [csat.parse_payload(r["id"]) for r in rows] == [(survey.pk, score) for score in (5, 4, 3, 2, 1)]
    assert all(len(r["title"]) <= 24 for r in rows)

    graph.expect_oneshot_request(
        f"/v21.0/{channel.phone_number_id}/messages",
        method="POST",
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "interactive",
            "interactive": interactive,
            "to": PHONE.lstrip("+"),
        },
    ).respond_with_json(GRAPH_OK)
    outbox.notification_deliver(log_id=row.pk)
    graph.check_assertions()
    row.refresh_from_db()
    assert row.status == "sent"

    four = next(r for r in rows if csat.parse_payload(r["id"])[1] == 4)
    assert list_reply(channel, four["id"], four["title"], "wamid.rate")["messages_stored"] == 1
    survey.refresh_from_db()
    assert (survey.status, survey.score) == (CsatStatus.RATED, 4)
    # The answer joined the closed conversation: no new one, and it stays closed.
    assert list(Conversation.objects.filter(contact__phone=PHONE).values_list("pk", "status")) == [
        (conversation.pk, "closed")
    ]
    # The thanks, like the survey, is in the organization's language.
    with translation.override(conversation.organization.locale):
        thanks = translation.gettext(
            "Thank you for your rating! If you want to tell us more, reply with a comment in the next hour."
        )
    assert conversation.messages.filter(body=thanks).exists()

    # Answered once: a second tap changes nothing.
    one = next(r for r in rows if csat.parse_payload(r["id"])[1] == 1)
    list_reply(channel, one["id"], one["title"], "wamid.again")
    survey.refresh_from_db()
    assert survey.score == 4

    webhook(channel, {"id": "wamid.comment", "type": "text", "text": {"body": "Rápido e gentil."}})
    survey.refresh_from_db()
    assert (survey.status, survey.comment) == (CsatStatus.COMPLETED, "Rápido e gentil.")
    # After the comment, the customer's next message is a new matter.
    webhook(channel, {"id": "wamid.new", "type": "text", "text": {"body": "Outra dúvida"}})
    assert Conversation.objects.filter(contact__phone=PHONE).count() == 2

    # The rating shows on the conversation and for the agent.
    client = Client()
    client.force_login(tenant.agent, backend="django.contrib.auth.backends.ModelBackend")
    pane = client.get(f"/inbox/?c={conversation.pk}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-pane")
    assert 'id="csat-result"' in pane.content.decode() and "4/5" in pane.content.decode()
    assert 'data-work="csat">4.0<' in client.get("/inbox/my-work/").content.decode()


def test_a_forged_or_foreign_rating_is_a_plain_message(shop, tenant_b):
    _tenant, _queue, channel, _agent = shop
    conversation = closed_conversation(shop)
    survey = CsatSurvey.objects.get(conversation=conversation)
    other = CsatSurvey(pk=survey.pk + 1000)
    list_reply(channel, csat.rating_payload(other, 5), "5", "wamid.foreign")
    list_reply(channel, f"csat:{survey.pk}:5:forged", "5", "wamid.forged")
    survey.refresh_from_db()
    assert survey.status == CsatStatus.SENT and survey.score is None


def test_the_queue_toggle_decides(shop):
    _tenant, queue, _channel, _agent = shop
    queue.csat_enabled = False
    queue.save()
    conversation = closed_conversation(shop)
    assert not CsatSurvey.objects.filter(conversation=conversation).exists()
    assert not NotificationLog.objects.filter(event_type="csat_survey").exists()


def test_a_typed_digit_rates_too_and_reopening_sends_no_second_survey(shop):
    tenant, _queue, channel, _agent = shop
    conversation = closed_conversation(shop)
    webhook(channel, {"id": "wamid.digit", "type": "text", "text": {"body": " 5 "}})
    survey = CsatSurvey.objects.get(conversation=conversation)
    assert survey.score == 5
    conversation.refresh_from_db()
    services.conversation_reopen(conversation=conversation, by=tenant.agent)
    services.conversation_close(conversation=conversation, by=tenant.agent)
    assert CsatSurvey.objects.filter(conversation=conversation).count() == 1
    assert NotificationLog.objects.filter(event_type="csat_survey").count() == 1
