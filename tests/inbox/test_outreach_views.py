"""The inbox's outreach pages: the 24-hour window in the pane, the template picker, starting a conversation."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Message, MessageKind
from tests.conversations import factories as cf
from tests.conversations.test_outreach import ORDER_TEMPLATE

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def template(desk):
    return cf.approved_template(desk.tenant.org, desk.whatsapp, name="order_update", components=ORDER_TEMPLATE)


def _whatsapp_conversation(desk, *, hours_ago: float):
    conversation = cf.conversation(desk.tenant.org, queue=desk.queue, channel=desk.whatsapp, customer_wrote=False)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - datetime.timedelta(hours=hours_ago)
    )
    services.conversation_assign(conversation=conversation, membership=desk.agent)
    return conversation


def test_the_pane_shows_the_window_open_and_then_closed_with_the_template_picker(desk, client_for, template):
    client = client_for(desk.tenant.agent)
    fresh = _whatsapp_conversation(desk, hours_ago=1)
    html = client.get(f"/inbox/?c={fresh.pk}").content.decode()
    assert "Free replies until" in html and 'id="composer"' in html
    late = _whatsapp_conversation(desk, hours_ago=30)
    html = client.get(f"/inbox/?c={late.pk}").content.decode()
    assert "The 24-hour window closed at" in html and 'id="open-template-picker"' in html
    refused = client.post(f"/inbox/{late.pk}/reply/", {"body": "hello?"}, **HX)
    assert refused.status_code == 422 and "closed at" in refused.content.decode()
    assert not Message.objects.filter(conversation=late, direction="outbound").exists()


def test_the_picker_lists_approved_templates_prefills_the_name_and_previews(desk, client_for, template):
    conversation = _whatsapp_conversation(desk, hours_ago=30)
    cf.whatsapp_template(desk.tenant.org, desk.whatsapp, name="still_a_draft", components=ORDER_TEMPLATE)
    client = client_for(desk.tenant.agent)
    picker = client.get(f"/inbox/{conversation.pk}/template/", **HX).content.decode()
    assert "order_update" in picker and "still_a_draft" not in picker and "<html" not in picker
    chosen = client.post(f"/inbox/{conversation.pk}/template/", {"template": template.pk}, **HX).content.decode()
    first_name = conversation.contact.name.split(" ")[0]
    assert f'value="{first_name}"' in chosen and 'id="template-preview"' in chosen
    preview = client.post(
        f"/inbox/{conversation.pk}/template/",
        {"template": template.pk, "preview": "1", "v:body.1": "Ana", "v:body.2": "<b>amanhã</b>"},
        **HX,
    ).content.decode()
    assert "Olá Ana, seu pedido chega &lt;b&gt;amanhã&lt;/b&gt;." in preview


def test_sending_a_template_from_the_picker_and_a_clear_error_for_an_empty_variable(desk, client_for, template):
    conversation = _whatsapp_conversation(desk, hours_ago=30)
    client = client_for(desk.tenant.agent)
    base = {"template": template.pk, "v:header.1": "8123", "v:body.1": "Ana", "v:button.1.1": "8123"}
    refused = client.post(f"/inbox/{conversation.pk}/template/send/", {**base, "v:body.2": " "}, **HX)
    assert refused.status_code == 422 and "Body {{2}}" in refused.content.decode()
    sent = client.post(f"/inbox/{conversation.pk}/template/send/", {**base, "v:body.2": "amanhã"}, **HX)
    assert sent.status_code == 200 and "Template sent." in sent.content.decode()
    (message,) = Message.objects.filter(conversation=conversation, direction="outbound")
    assert message.kind == MessageKind.TEMPLATE and "Olá Ana, seu pedido chega amanhã." in message.body


def test_start_a_conversation_by_phone_and_from_the_contact_panel(desk, client_for, template):
    client = client_for(desk.tenant.agent)
    page = client.get("/inbox/start/")
    assert page.status_code == 200 and "order_update" in page.content.decode()
    values = {"template": template.pk, "v:header.1": "1", "v:body.1": "Bia", "v:body.2": "hoje", "v:button.1.1": "1"}
    bad = client.post("/inbox/start/", {"channel": desk.whatsapp.pk, "phone": "banana", "send": "1", **values})
    assert bad.status_code == 422 and "not a phone number" in bad.content.decode()
    done = client.post("/inbox/start/", {"channel": desk.whatsapp.pk, "phone": "+5511987650950", "send": "1", **values})
    conversation = Conversation.objects.get(contact__phone="+5511987650950")
    assert done.status_code == 302 and done["Location"].endswith(f"?c={conversation.pk}")
    assert conversation.assignee_id == desk.agent.pk
    panel = client.get(f"/inbox/?c={conversation.pk}").content.decode()
    assert f"/inbox/start/?contact={conversation.contact_id}" in panel
    again = client.get(f"/inbox/start/?contact={conversation.contact_id}").content.decode()
    assert conversation.contact.phone in again and 'name="phone"' not in again


def test_viewers_and_other_tenants_cannot_use_outreach(desk, client_for, template, tenant_b):
    conversation = _whatsapp_conversation(desk, hours_ago=30)
    viewer = client_for(desk.tenant.viewer)
    assert viewer.get("/inbox/start/").status_code == 403
    assert viewer.get(f"/inbox/{conversation.pk}/template/").status_code == 403
    stranger = client_for(tenant_b.agent)
    assert stranger.get(f"/inbox/{conversation.pk}/template/").status_code == 404
    assert stranger.post(f"/inbox/{conversation.pk}/template/send/", {"template": template.pk}).status_code == 404
    assert stranger.get(f"/inbox/start/?contact={conversation.contact_id}").status_code == 404
