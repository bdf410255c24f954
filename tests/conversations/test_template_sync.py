"""Template sync and submission against a local HTTP server standing in for the Graph API."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from werkzeug import Response

from conversations import selectors, services, tasks
from conversations.channels.whatsapp import WhatsAppClient
from conversations.models import WhatsAppTemplate
from pytake.periodic import declared_periodic_tasks
from tests.conversations import factories as cf
from tests.conversations.conftest import names

pytestmark = pytest.mark.django_db

WABA = "102290129340398"
PATH = f"/v21.0/{WABA}/message_templates"
FIELDS = WhatsAppClient.TEMPLATE_FIELDS


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_RETRY_BACKOFF = 0.01
    settings.WHATSAPP_HTTP_TIMEOUT = 2
    return httpserver


@pytest.fixture
def channel(tenant_a):
    return cf.channel(tenant_a.org, name="Main number", business_account_id=WABA, access_token="EAAG-test-token")


def meta_template(provider_id, name, *, status="APPROVED", language="pt_BR", category="UTILITY", quality="GREEN"):
    return {
        "id": provider_id,
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "parameter_format": "POSITIONAL",
        "quality_score": {"score": quality, "date": 1750000000},
        "rejected_reason": "NONE",
        "components": [
            {"type": "BODY", "text": "Olá {{1}}, tudo certo?", "example": {"body_text": [["Ana"]]}},
        ],
    }


def page(items, *, after=None):
    body = {"data": items, "paging": {"cursors": {"before": "QVFIUb", "after": after or "QVFIUlast"}}}
    if after:
        body["paging"]["next"] = f"https://graph.facebook.com/v21.0/{WABA}/message_templates?after={after}"
    return body


def expect_page(graph, items, *, after_request=None, after_answer=None):
    query = {"fields": FIELDS, "limit": "100"}
    if after_request:
        query["after"] = after_request
    graph.expect_ordered_request(
        PATH, method="GET", query_string=query, headers={"Authorization": "Bearer EAAG-test-token"}
    ).respond_with_json(page(items, after=after_answer))


def test_sync_over_two_pages_counts_created_updated_unchanged_and_disabled(
    graph, channel, recorded_events, django_capture_on_commit_callbacks
):
    expect_page(
        graph,
        [
            meta_template("1001", "welcome"),
            meta_template("1002", "appointment_reminder", status="PENDING", quality="UNKNOWN"),
            meta_template("1003", "old_offer", category="MARKETING"),
        ],
    )
    first = services.template_sync(channel=channel)
    assert (first.created, first.updated, first.unchanged, first.removed) == (3, 0, 0, 0)
    draft = cf.whatsapp_template(channel.organization, channel, name="not_submitted_yet")

    expect_page(
        graph,
        [meta_template("1001", "welcome"), meta_template("1002", "appointment_reminder")],
        after_answer="QVFIUpage2",
    )
    expect_page(
        graph,
        [meta_template("1004", "appointment_reminder", language="en_US", quality="YELLOW")],
        after_request="QVFIUpage2",
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = services.template_sync(channel=channel)
    graph.check_assertions()
    assert len(graph.log) == 3
    assert (second.created, second.updated, second.unchanged, second.removed, second.skipped) == (1, 1, 1, 1, 0)

    rows = {(t.name, t.language): t for t in WhatsAppTemplate.objects.filter(channel=channel)}
    reminder = rows[("appointment_reminder", "pt_BR")]
    assert (reminder.status, reminder.quality_rating, reminder.provider_id) == ("approved", "green", "1002")
    english = rows[("appointment_reminder", "en_US")]
    assert (english.status, english.quality_rating, english.category) == ("approved", "yellow", "utility")
    gone = rows[("old_offer", "pt_BR")]
    assert gone.status == "disabled" and gone.category == "marketing" and "No longer listed" in gone.rejected_reason
    assert rows[("not_submitted_yet", "pt_BR")].status == "draft" == draft.status
    assert all(t.last_synced_at is not None for t in rows.values() if t.status != "draft")
    assert names(recorded_events) == ["whatsapp_template.status_changed"] * 2
    assert {(e.payload["previous_status"], e.payload["status"]) for e in recorded_events} == {
        ("pending", "approved"),
        ("approved", "disabled"),
    }
    # Synced templates are what the send picker lists.
    approved = selectors.template_list(organization=channel.organization, channel=channel, status="approved")
    assert [(t.name, t.language) for t in approved] == [
        ("appointment_reminder", "en_US"),
        ("appointment_reminder", "pt_BR"),
        ("welcome", "pt_BR"),
    ]


def test_sync_needs_the_business_account_id(graph, tenant_a):
    channel = cf.channel(tenant_a.org, name="No WABA")
    with pytest.raises(ValidationError) as raised:
        services.template_sync(channel=channel)
    assert raised.value.messages == [
        "The channel “No WABA” has no WhatsApp Business Account id: set it in the channel's settings before "
        "syncing or submitting templates."
    ]
    assert graph.log == []


def test_sync_graph_error_is_a_clear_validation_error_and_changes_nothing(graph, channel):
    graph.expect_request(PATH, method="GET").respond_with_json(
        {
            "error": {
                "message": "Invalid OAuth access token - Cannot parse access token",
                "type": "OAuthException",
                "code": 190,
            }
        },
        status=401,
    )
    with pytest.raises(ValidationError) as raised:
        services.template_sync(channel=channel)
    assert raised.value.messages == ["Meta refused the request: Invalid OAuth access token - Cannot parse access token"]
    assert not WhatsAppTemplate.objects.exists()


def test_sync_when_the_graph_api_keeps_failing_says_so(graph, channel, settings):
    settings.WHATSAPP_SEND_RETRIES = 1
    graph.expect_request(PATH, method="GET").respond_with_data("bad gateway", status=502)
    with pytest.raises(ValidationError) as raised:
        services.template_sync(channel=channel)
    assert raised.value.messages == [
        "The Graph API could not be reached; try again later (gave up after 2 attempts: HTTP 502: bad gateway)."
    ]
    assert len(graph.log) == 2


DRAFT_COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["8123"]}},
    {"type": "BODY", "text": "Olá {{1}}, seu pedido saiu para entrega.", "example": {"body_text": [["Ana"]]}},
    {"type": "FOOTER", "text": "Loja Alpha"},
    {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Rastrear",
                "url": "https://alpha.test/t/{{1}}",
                "example": ["https://alpha.test/t/8"],
            }
        ],
    },
]


def test_submit_posts_the_exact_body_and_stores_id_status_and_who(graph, channel, tenant_a):
    draft = cf.whatsapp_template(
        tenant_a.org, channel, name="order_shipped", language="pt_BR", category="utility", components=DRAFT_COMPONENTS
    )
    graph.expect_oneshot_request(
        PATH,
        method="POST",
        headers={"Authorization": "Bearer EAAG-test-token"},
        json={"name": "order_shipped", "language": "pt_BR", "category": "UTILITY", "components": DRAFT_COMPONENTS},
    ).respond_with_json({"id": "572279198452421", "status": "PENDING", "category": "UTILITY"})
    submitted = services.template_submit(template=draft, by=tenant_a.admin)
    graph.check_assertions()
    submitted.refresh_from_db()
    assert (submitted.provider_id, submitted.status, submitted.category) == ("572279198452421", "pending", "utility")
    assert submitted.submitted_by == tenant_a.admin and submitted.submitted_at is not None
    with pytest.raises(ValidationError) as raised:
        services.template_submit(template=submitted)
    assert raised.value.messages == [
        "Only drafts and rejected templates are submitted for approval; “order_shipped (pt_BR)” is Pending review."
    ]
    assert len(graph.log) == 1


def test_a_rejected_template_is_corrected_and_resubmitted_through_metas_edit_endpoint(graph, channel, tenant_a):
    draft = cf.whatsapp_template(tenant_a.org, channel, name="order_shipped", components=DRAFT_COMPONENTS)
    graph.expect_oneshot_request(PATH, method="POST").respond_with_json(
        {"id": "572279198452421", "status": "PENDING", "category": "UTILITY"}
    )
    template = services.template_submit(template=draft)
    services.template_status_update(
        channel=channel,
        business_account_id=WABA,
        event="REJECTED",
        provider_id="572279198452421",
        reason="INVALID_FORMAT",
    )
    template.refresh_from_db()
    assert (template.status, template.rejected_reason) == ("rejected", "INVALID_FORMAT")
    corrected = [
        {"type": "BODY", "text": "Seu pedido saiu para entrega, {{1}}. Obrigado!", "example": {"body_text": [["Ana"]]}}
    ]
    WhatsAppTemplate.objects.filter(pk=template.pk).update(components=corrected)
    graph.expect_oneshot_request(
        "/v21.0/572279198452421", method="POST", json={"category": "UTILITY", "components": corrected}
    ).respond_with_json({"success": True})
    resubmitted = services.template_submit(template=template, by=tenant_a.admin)
    graph.check_assertions()
    assert (resubmitted.status, resubmitted.provider_id, resubmitted.rejected_reason) == (
        "pending",
        "572279198452421",
        "",
    )


def test_submit_of_a_named_template_says_so_and_meta_may_recategorize(graph, channel, tenant_a):
    components = [
        {
            "type": "BODY",
            "text": "Oi {{first_name}}, temos novidades.",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]},
        }
    ]
    draft = cf.whatsapp_template(
        tenant_a.org, channel, name="news", category="utility", parameter_format="named", components=components
    )
    graph.expect_oneshot_request(
        PATH,
        method="POST",
        json={
            "name": "news",
            "language": "pt_BR",
            "category": "UTILITY",
            "parameter_format": "NAMED",
            "components": components,
        },
    ).respond_with_json({"id": "99", "status": "PENDING", "category": "MARKETING"})
    assert services.template_submit(template=draft).category == "marketing"


def test_submit_graph_error_shows_metas_message_and_keeps_the_draft(graph, channel, tenant_a):
    draft = cf.whatsapp_template(tenant_a.org, channel, name="order_shipped", components=DRAFT_COMPONENTS)
    graph.expect_request(PATH, method="POST").respond_with_response(
        Response(
            '{"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100, '
            '"error_subcode": 2388024, "error_user_title": "Content in this language already exists", '
            '"error_user_msg": "There is already English (US) content for this template."}}',
            status=400,
            content_type="application/json",
        )
    )
    with pytest.raises(ValidationError) as raised:
        services.template_submit(template=draft)
    assert raised.value.messages == [
        "Meta refused the request: Content in this language already exists: "
        "There is already English (US) content for this template."
    ]
    assert len(graph.log) == 1  # a refusal is never retried
    draft.refresh_from_db()
    assert (draft.status, draft.provider_id, draft.submitted_at) == ("draft", "", None)


def test_submit_refuses_invalid_components_before_calling_meta(graph, channel, tenant_a):
    draft = cf.whatsapp_template(tenant_a.org, channel, name="broken")
    WhatsAppTemplate.objects.filter(pk=draft.pk).update(components=[{"type": "FOOTER", "text": "only a footer"}])
    with pytest.raises(ValidationError, match="needs a BODY"):
        services.template_submit(template=draft)
    assert graph.log == []


# --- the command and the Beat job ----------------------------------------------------------------


def test_command_syncs_with_progress_output(graph, channel, tenant_a):
    cf.channel(tenant_a.org, name="Second number")  # no business account id: skipped, not an error
    expect_page(graph, [meta_template("1001", "welcome")])
    out = io.StringIO()
    call_command("sync_whatsapp_templates", org="alpha", stdout=out)
    text = out.getvalue()
    assert f"Syncing templates of alpha / Main number (#{channel.pk})…" in text
    assert "created 1, updated 0, unchanged 0, disabled (gone from Meta) 0" in text
    assert "Skipping alpha / Second number" in text
    assert WhatsAppTemplate.objects.get().name == "welcome"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"org": "nope"}, "Unknown organization “nope”. Known: alpha."),
        ({"channel": "abc"}, "--channel must be a channel's numeric id or webhook id (got “abc”)."),
        ({"channel": "999999"}, "No active WhatsApp channel with id “999999”."),
    ],
)
def test_command_bad_arguments_are_clear_errors(tenant_a, kwargs, message):
    with pytest.raises(CommandError) as raised:
        call_command("sync_whatsapp_templates", **kwargs)
    assert str(raised.value) == message


def test_command_reports_a_channel_it_could_not_sync(graph, tenant_a, tenant_b):
    foreign = cf.channel(tenant_b.org, business_account_id=WABA)
    with pytest.raises(CommandError, match="No active WhatsApp channel with id"):
        call_command("sync_whatsapp_templates", org="alpha", channel=str(foreign.pk))
    own = cf.channel(tenant_a.org, name="No WABA yet")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 channel\\(s\\) could not be synced"):
        call_command("sync_whatsapp_templates", channel=str(own.public_id), stderr=err)
    assert "has no WhatsApp Business Account id" in err.getvalue()
    assert graph.log == []


@pytest.fixture
def eager_celery():
    from pytake.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


def test_hourly_beat_job_and_the_channel_task(graph, channel, tenant_a, eager_celery):
    assert declared_periodic_tasks()["conversations: WhatsApp template sync"] == {
        "task": "conversations.tasks.sync_whatsapp_templates",
        "every": 3600,
    }
    cf.channel(tenant_a.org, name="Without WABA")
    assert list(selectors.channels_for_template_sync()) == [channel]
    expect_page(graph, [meta_template("1001", "welcome")])
    assert tasks.sync_whatsapp_templates() == 1
    assert WhatsAppTemplate.objects.get().provider_id == "1001"
    # A refusal is logged, not raised: the next hour tries again.
    graph.expect_request(PATH, method="GET").respond_with_json({"error": {"message": "down", "code": 2}}, status=400)
    assert tasks.sync_channel_templates(channel.pk) is None


def test_a_rendered_template_is_sent_with_the_exact_messages_body(graph, channel):
    from conversations.message_templates import template_render

    draft = cf.whatsapp_template(channel.organization, channel, name="order_shipped", components=DRAFT_COMPONENTS)
    [draft] = services.template_status_update(
        channel=channel, business_account_id=WABA, event="APPROVED", name="order_shipped", language="pt_BR"
    )
    rendered = template_render(template=draft, values={"header.1": "8123", "body.1": "Ana", "button.0.1": "8123"})
    graph.expect_oneshot_request(
        f"/v21.0/{channel.phone_number_id}/messages",
        method="POST",
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511987654321",
            "type": "template",
            "template": {
                "name": "order_shipped",
                "language": {"code": "pt_BR"},
                "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "8123"}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "Ana"}]},
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": "8123"}],
                    },
                ],
            },
        },
    ).respond_with_json({"messaging_product": "whatsapp", "messages": [{"id": "wamid.template1"}]})
    client = WhatsAppClient(phone_number_id=channel.phone_number_id, access_token=channel.access_token)
    assert client.send_template(to="+5511987654321", template=rendered.graph_template) == "wamid.template1"
    graph.check_assertions()
