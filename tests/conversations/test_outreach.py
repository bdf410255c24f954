"""Reaching customers first: templates in a conversation (window closed), starting a conversation."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from conversations import services
from conversations.models import Conversation, DeliveryStatus, Message, MessageKind
from notifications.models import NotificationLog
from tests import factories
from tests.conversations import factories as cf
from tests.conversations.test_outbound import GRAPH_OK

pytestmark = pytest.mark.django_db

ORDER_TEMPLATE = [
    {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["8123"]}},
    {
        "type": "BODY",
        "text": "Olá {{1}}, seu pedido chega {{2}}.",
        "example": {"body_text": [["Ana", "amanhã"]]},
    },
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Ok"},
            {
                "type": "URL",
                "text": "Rastrear",
                "url": "https://alpha.test/t/{{1}}",
                "example": ["https://alpha.test/t/1"],
            },
        ],
    },
]
VALUES = {"header.1": "8123", "body.1": "Ana", "body.2": "amanhã", "button.1.1": "8123", "button.0.payload": "ok-8123"}


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_HTTP_TIMEOUT = 2
    return httpserver


@pytest.fixture
def setup(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    channel = cf.channel(tenant_a.org, queue=queue, phone_number_id="106540352242922", access_token="EAAG-test-token")
    agent = cf.online_agent(tenant_a.org, queue=queue)
    template = cf.approved_template(tenant_a.org, channel, name="order_update", components=ORDER_TEMPLATE)
    return tenant_a.org, channel, agent, template


def test_a_template_goes_out_with_the_window_closed_in_the_exact_graph_format(graph, setup):
    org, channel, agent, template = setup
    conversation = cf.conversation(org, channel=channel, customer_wrote=False)
    with pytest.raises(ValidationError, match="approved template"):
        services.message_send(conversation=conversation, author=agent, body="Free text is not allowed")
    message = services.template_message_send(conversation=conversation, author=agent, template=template, values=VALUES)
    assert message.kind == MessageKind.TEMPLATE and "Olá Ana, seu pedido chega amanhã." in message.body
    graph.expect_oneshot_request(
        "/v21.0/106540352242922/messages",
        method="POST",
        headers={"Authorization": "Bearer EAAG-test-token"},
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": conversation.contact.phone.lstrip("+"),
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "pt_BR"},
                "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "8123"}]},
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "amanhã"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "ok-8123"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "1",
                        "parameters": [{"type": "text", "text": "8123"}],
                    },
                ],
            },
        },
    ).respond_with_json(GRAPH_OK)
    sent = cf.deliver(message)
    graph.check_assertions()
    assert sent.delivery_status == DeliveryStatus.SENT and sent.provider_message_id == GRAPH_OK["messages"][0]["id"]


def test_an_empty_or_missing_variable_is_refused_before_anything_is_stored(graph, setup):
    org, channel, agent, template = setup
    conversation = cf.conversation(org, channel=channel)
    with pytest.raises(ValidationError) as error:
        services.template_message_send(
            conversation=conversation,
            author=agent,
            template=template,
            values={**VALUES, "body.2": "  ", "header.1": ""},
        )
    text = " ".join(error.value.messages)
    assert "Body {{2}}" in text and "Header {{1}}" in text
    assert not Message.objects.filter(conversation=conversation, direction="outbound").exists()
    assert not NotificationLog.objects.filter(recipient_contact_id=conversation.contact_id).exists()
    assert graph.log == []


def test_marketing_templates_need_marketing_consent_and_other_numbers_templates_are_refused(setup):
    org, channel, agent, _template = setup
    promo = cf.approved_template(org, channel, name="promo", category="marketing", components=ORDER_TEMPLATE)
    conversation = cf.conversation(org, channel=channel)
    with pytest.raises(ValidationError, match="marketing"):
        services.template_message_send(conversation=conversation, author=agent, template=promo, values=VALUES)
    services.contact_set_marketing_consent(contact=conversation.contact, granted=True, source="form")
    services.template_message_send(conversation=conversation, author=agent, template=promo, values=VALUES)
    elsewhere = cf.approved_template(org, name="order_update_2", components=ORDER_TEMPLATE)
    with pytest.raises(ValidationError, match="another WhatsApp number"):
        services.template_message_send(conversation=conversation, author=agent, template=elsewhere, values=VALUES)


def test_starting_a_conversation_with_a_new_phone_creates_the_contact_and_assigns_the_agent(graph, setup):
    org, channel, agent, template = setup
    conversation = services.conversation_start(
        organization=org,
        author=agent,
        channel=channel,
        template=template,
        values=VALUES,
        phone="+55 11 98765-0900",
        name="Bia",
    )
    assert conversation.contact.phone == "+5511987650900" and conversation.contact.name == "Bia"
    assert conversation.assignee_id == agent.pk and conversation.channel_id == channel.pk
    (message,) = Message.objects.filter(conversation=conversation)
    assert message.kind == MessageKind.TEMPLATE and message.author_id == agent.user_id
    graph.expect_oneshot_request("/v21.0/106540352242922/messages", method="POST").respond_with_json(GRAPH_OK)
    assert cf.deliver(message).delivery_status == DeliveryStatus.SENT
    # Again with the same contact: the active conversation is reused, not a second one opened.
    again = services.conversation_start(
        organization=org, author=agent, channel=channel, template=template, values=VALUES, contact=conversation.contact
    )
    assert again.pk == conversation.pk and Conversation.objects.filter(contact=conversation.contact).count() == 1


def test_starting_needs_a_contact_or_a_valid_phone_and_viewers_cannot(setup, tenant_a):
    org, channel, agent, template = setup
    with pytest.raises(ValidationError, match="Choose a contact or enter a phone number"):
        services.conversation_start(organization=org, author=agent, channel=channel, template=template, values=VALUES)
    with pytest.raises(ValidationError, match="not a phone number"):
        services.conversation_start(
            organization=org, author=agent, channel=channel, template=template, values=VALUES, phone="banana"
        )
    viewer = tenant_a.org.memberships.get(user=tenant_a.viewer)
    with pytest.raises(ValidationError, match="Viewers"):
        services.conversation_start(
            organization=org, author=viewer, channel=channel, template=template, values=VALUES, phone="+5511987650901"
        )
    assert not Conversation.objects.filter(contact__phone="+5511987650901").exists()
