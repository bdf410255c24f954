"""The WhatsApp templates admin: drafts validated, submitted ones read-only, Graph calls as messages."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from conversations.models import WhatsAppTemplate
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

WABA = "102290129340398"
PATH = f"/v21.0/{WABA}/message_templates"
CHANGELIST = "admin:conversations_whatsapptemplate_changelist"


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_RETRY_BACKOFF = 0.01
    settings.WHATSAPP_HTTP_TIMEOUT = 2
    return httpserver


@pytest.fixture
def channel(tenant_a):
    return cf.channel(tenant_a.org, name="Main number", business_account_id=WABA)


def form_data(channel, **overrides):
    data = {
        "channel": channel.pk,
        "name": "order_shipped",
        "language": "pt_BR",
        "category": "utility",
        "parameter_format": "positional",
        "components": json.dumps(cf.REMINDER_COMPONENTS),
    }
    data.update(overrides)
    return data


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_org_admin_adds_a_draft_and_invalid_components_are_form_errors(tenant_a, channel, client_for):
    client = client_for(tenant_a.admin)
    add = reverse("admin:conversations_whatsapptemplate_add")
    bad = [{"type": "BODY", "text": "Oi {{1}}, tudo bem?"}]
    response = client.post(add, form_data(channel, components=json.dumps(bad), name="Order Shipped"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "one example per variable (1)" in " ".join(errors["components"])
    assert "lowercase letters, digits and underscores" in " ".join(errors["name"])
    console = cf.channel(tenant_a.org, kind="console")
    response = client.post(add, form_data(console))
    assert "channel" in response.context["adminform"].form.errors  # not a WhatsApp channel: not a choice
    assert not WhatsAppTemplate.objects.exists()

    response = client.post(add, form_data(channel))
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = WhatsAppTemplate.objects.get()
    assert (template.organization, template.status, template.components) == (
        tenant_a.org,
        "draft",
        cf.REMINDER_COMPONENTS,
    )
    page = client.get(reverse("admin:conversations_whatsapptemplate_change", args=[template.pk])).content.decode()
    assert "Olá Ana, sua consulta é amanhã às 10h. Confirma?" in page  # the preview, with the examples


def test_submit_action_posts_to_meta_and_a_submitted_template_is_read_only(graph, tenant_a, channel, client_for):
    draft = cf.whatsapp_template(tenant_a.org, channel, name="order_shipped")
    graph.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"id": "572279198452421", "status": "PENDING", "category": "UTILITY"}
    )
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse(CHANGELIST), {"action": "submit_selected", "_selected_action": [draft.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "order_shipped (pt_BR) submitted: Meta says Pending review." in texts(response)
    draft.refresh_from_db()
    assert (draft.status, draft.provider_id, draft.submitted_by) == ("pending", "572279198452421", tenant_a.admin)

    change = reverse("admin:conversations_whatsapptemplate_change", args=[draft.pk])
    page = client.get(change)
    assert page.status_code == 200 and not page.context["adminform"].form.fields  # view only
    response = client.post(change, form_data(channel, name="renamed"))
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.name == "order_shipped"


def test_submit_action_shows_metas_refusal_as_a_message(graph, tenant_a, channel, client_for):
    draft = cf.whatsapp_template(tenant_a.org, channel, name="order_shipped")
    graph.expect_request(PATH, method="POST").respond_with_json(
        {"error": {"message": "Invalid parameter", "code": 100, "error_user_msg": "The body has too many variables."}},
        status=400,
    )
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse(CHANGELIST), {"action": "submit_selected", "_selected_action": [draft.pk]}, follow=True
    )
    assert response.status_code == 200
    assert texts(response) == ["order_shipped (pt_BR): Meta refused the request: The body has too many variables."]
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_sync_action_on_channels(graph, tenant_a, channel, client_for):
    graph.expect_oneshot_request(PATH, method="GET").respond_with_json(
        {
            "data": [
                {
                    "id": "1001",
                    "name": "welcome",
                    "language": "en_US",
                    "status": "APPROVED",
                    "category": "MARKETING",
                    "components": [{"type": "BODY", "text": "Welcome!"}],
                }
            ],
            "paging": {"cursors": {"before": "a", "after": "b"}},
        }
    )
    no_waba = cf.channel(tenant_a.org, name="Other number")
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("admin:conversations_channel_changelist"),
        {"action": "sync_templates", "_selected_action": [channel.pk, no_waba.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert texts(response) == [
        "Main number: 1 template(s) added, 0 updated, 0 unchanged, 0 disabled (no longer at Meta).",
        "Other number: The channel “Other number” has no WhatsApp Business Account id: set it in the channel's "
        "settings before syncing or submitting templates.",
    ]
    synced = WhatsAppTemplate.objects.get()
    listing = client.get(reverse(CHANGELIST), {"status__exact": "approved", "category__exact": "marketing"})
    assert [t.pk for t in listing.context["cl"].result_list] == [synced.pk]


def test_a_rejected_template_can_be_corrected_in_its_components_and_category_only(graph, tenant_a, channel, client_for):
    from conversations import services

    draft = cf.whatsapp_template(tenant_a.org, channel, name="order_shipped")
    graph.expect_oneshot_request(PATH, method="POST").respond_with_json({"id": "77", "status": "REJECTED"})
    rejected = services.template_submit(template=draft)
    assert rejected.status == "rejected"
    client = client_for(tenant_a.admin)
    change = reverse("admin:conversations_whatsapptemplate_change", args=[rejected.pk])
    assert set(client.get(change).context["adminform"].form.fields) == {"category", "components"}
    corrected = [{"type": "BODY", "text": "Olá {{1}}, tudo certo com o pedido?", "example": {"body_text": [["Ana"]]}}]
    response = client.post(
        change, {"category": "utility", "components": json.dumps(corrected), "name": "renamed", "language": "en_US"}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    rejected.refresh_from_db()
    assert (rejected.name, rejected.language, rejected.components) == ("order_shipped", "pt_BR", corrected)
