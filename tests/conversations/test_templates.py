"""WhatsApp templates: component validation, variables, the exact Graph body of a render, mappings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from conversations import services
from conversations.message_templates import (
    contact_sources,
    resolve_values,
    template_preview,
    template_render,
    template_variables,
    validate_components,
    validate_mapping,
)
from conversations.models import WhatsAppTemplate
from tests.conversations import factories as cf

POSITIONAL_FULL = [
    {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["8123"]}},
    {
        "type": "BODY",
        "text": "Olá {{1}}, seu pedido chega {{2}}. Dúvidas? Fale conosco.",
        "example": {"body_text": [["Ana", "amanhã"]]},
    },
    {"type": "FOOTER", "text": "Loja Alpha"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Confirmar"},
            {
                "type": "URL",
                "text": "Rastrear",
                "url": "https://alpha.test/t/{{1}}",
                "example": ["https://alpha.test/t/8123"],
            },
            {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+5511955550000"},
        ],
    },
]

NAMED_FULL = [
    {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Pedido {{order_id}}",
        "example": {"header_text_named_params": [{"param_name": "order_id", "example": "8123"}]},
    },
    {
        "type": "BODY",
        "text": "Olá {{first_name}}, seu pedido chega {{delivery_date}}. Obrigado!",
        "example": {
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Ana"},
                {"param_name": "delivery_date", "example": "amanhã"},
            ]
        },
    },
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Confirm"},
            {"type": "QUICK_REPLY", "text": "Cancel"},
            {
                "type": "URL",
                "text": "Track",
                "url": "https://alpha.test/t/{{1}}",
                "example": ["https://alpha.test/t/1"],
            },
        ],
    },
]


def approved(components, *, name="order_update", language="pt_BR", parameter_format="positional", status="approved"):
    """An unsaved template: rendering is pure and needs no row."""
    return WhatsAppTemplate(
        name=name,
        language=language,
        category="utility",
        parameter_format=parameter_format,
        status=status,
        components=components,
    )


def messages_of(error: ValidationError) -> list[str]:
    return list(error.messages)


# --- validation ----------------------------------------------------------------------------------


def test_valid_components_pass_in_both_formats():
    validate_components(POSITIONAL_FULL, "positional")
    validate_components(NAMED_FULL, "named")
    validate_components(
        [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb"]}},
            {"type": "BODY", "text": "Seu recibo está acima."},
        ]
    )


@pytest.mark.parametrize(
    "components, fragment",
    [
        ("nope", "list of objects"),
        ([{"type": "FOOTER", "text": "x"}], "needs a BODY"),
        ([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}], "at most one BODY"),
        ([{"type": "CAROUSEL"}, {"type": "BODY", "text": "hi"}], "type must be one of"),
        ([{"type": "BODY", "text": "Oi {{1}} e {{3}} ok", "example": {"body_text": [["a", "b"]]}}], "without gaps"),
        ([{"type": "BODY", "text": "Oi {{1}}, tudo bem?"}], "one example per variable (1)"),
        ([{"type": "BODY", "text": "Oi {{first_name}}, tudo bem?"}], "not a positional variable"),
        ([{"type": "BODY", "text": "{{1}} chegou", "example": {"body_text": [["a"]]}}], "start or end"),
        ([{"type": "BODY", "text": "x" * 1025}], "the limit is 1024"),
        ([{"type": "BODY", "text": "ok"}, {"type": "FOOTER", "text": "Oi {{1}}"}], "footer cannot have variables"),
        ([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "ok"}], "header_handle"),
        ([{"type": "HEADER", "format": "GIF"}, {"type": "BODY", "text": "ok"}], "format must be one of"),
        (
            [
                {"type": "BODY", "text": "ok"},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "ftp://x"}]},
            ],
            "must start with https://",
        ),
        (
            [
                {"type": "BODY", "text": "ok"},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.test/{{1}}/a"}]},
            ],
            "at its end only",
        ),
        (
            [
                {"type": "BODY", "text": "ok"},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://x.test/{{1}}"}]},
            ],
            "example of the full URL",
        ),
        (
            [
                {"type": "BODY", "text": "ok"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "x" * 26}]},
            ],
            "the limit is 25",
        ),
        (
            [
                {"type": "BODY", "text": "ok"},
                {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "Call"}]},
            ],
            "phone_number",
        ),
    ],
)
def test_invalid_components_are_refused_with_a_clear_message(components, fragment):
    with pytest.raises(ValidationError) as raised:
        validate_components(components, "positional")
    assert any(fragment in message for message in messages_of(raised.value)), messages_of(raised.value)


def test_named_format_needs_named_examples_for_each_variable():
    components = [
        {
            "type": "BODY",
            "text": "Oi {{first_name}}, seu plano {{plan}} vence logo.",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]},
        }
    ]
    with pytest.raises(ValidationError) as raised:
        validate_components(components, "named")
    assert messages_of(raised.value) == [
        "Body: give an example for {{plan}} in “body_text_named_params” ([{“param_name”: …, “example”: …}])."
    ]
    with pytest.raises(ValidationError, match="not a named variable"):
        validate_components([{"type": "BODY", "text": "Oi {{1}}, ok?", "example": {"body_text": [["a"]]}}], "named")


@pytest.mark.django_db
def test_model_validation_names_the_components_field_and_the_channel(tenant_a, tenant_b):
    channel = cf.channel(tenant_a.org)
    with pytest.raises(ValidationError) as raised:
        services.template_create(channel=channel, name="Bad Name", language="portuguese", components=[])
    assert set(raised.value.message_dict) == {"name", "language", "components"}
    cf.whatsapp_template(tenant_a.org, channel, name="reminder", language="pt_BR")
    with pytest.raises(ValidationError, match="already has a template with this name and language"):
        cf.whatsapp_template(tenant_a.org, channel, name="reminder", language="pt_BR")
    console = cf.channel(tenant_a.org, kind="console")
    with pytest.raises(ValidationError, match="WhatsApp channels only"):
        cf.whatsapp_template(tenant_a.org, console)
    foreign = WhatsAppTemplate(
        organization=tenant_a.org,
        channel=cf.channel(tenant_b.org),
        name="x",
        language="pt_BR",
        components=POSITIONAL_FULL,
    )
    with pytest.raises(ValidationError, match="another organization"):
        foreign.full_clean()


# --- variables and rendering ---------------------------------------------------------------------


def test_variables_have_stable_refs_labels_and_examples():
    positional = template_variables(approved(POSITIONAL_FULL))
    assert [(v.ref, v.component, v.label, v.example) for v in positional] == [
        ("header.1", "header", "Header {{1}}", "8123"),
        ("body.1", "body", "Body {{1}}", "Ana"),
        ("body.2", "body", "Body {{2}}", "amanhã"),
        ("button.1.1", "button", "Button “Rastrear” link {{1}}", "8123"),
    ]
    named = template_variables(approved(NAMED_FULL, parameter_format="named"))
    assert [v.ref for v in named] == ["header.order_id", "body.first_name", "body.delivery_date", "button.2.1"]
    assert named[1].label == "Body {{first_name}}"


def test_positional_render_is_the_exact_graph_template_and_the_preview():
    rendered = template_render(
        template=approved(POSITIONAL_FULL),
        values={
            "header.1": "8123",
            "body.1": "Ana Souza",
            "body.2": "amanhã\nàs 10h",  # new lines are not accepted by Meta in parameters
            "button.0.payload": "order-8123-confirm",
            "button.1.1": "8123",
        },
    )
    assert rendered.graph_template == {
        "name": "order_update",
        "language": {"code": "pt_BR"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "8123"}]},
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana Souza"}, {"type": "text", "text": "amanhã às 10h"}],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": "order-8123-confirm"}],
            },
            {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "8123"}]},
        ],
    }
    assert rendered.text == (
        "Pedido 8123\n\n"
        "Olá Ana Souza, seu pedido chega amanhã às 10h. Dúvidas? Fale conosco.\n\n"
        "Loja Alpha\n\n"
        "[Confirmar]\n[Rastrear] https://alpha.test/t/8123\n[Ligar] +5511955550000"
    )


def test_named_render_carries_parameter_names_and_both_quick_reply_payloads():
    rendered = template_render(
        template=approved(NAMED_FULL, name="order_named", language="en_US", parameter_format="named"),
        values={
            "header.order_id": "42",
            "body.first_name": "Ana",
            "body.delivery_date": "Friday",
            "button.0.payload": "confirm-42",
            "button.1.payload": "cancel-42",
            "button.2.1": "42",
        },
    )
    assert rendered.graph_template == {
        "name": "order_named",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "parameter_name": "order_id", "text": "42"}]},
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                    {"type": "text", "parameter_name": "delivery_date", "text": "Friday"},
                ],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": "confirm-42"}],
            },
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "1",
                "parameters": [{"type": "payload", "payload": "cancel-42"}],
            },
            {"type": "button", "sub_type": "url", "index": "2", "parameters": [{"type": "text", "text": "42"}]},
        ],
    }
    assert rendered.text.endswith("[Confirm]\n[Cancel]\n[Track] https://alpha.test/t/42")


def test_media_header_takes_a_link_or_a_media_id():
    components = [
        {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::handle"]}},
        {"type": "BODY", "text": "Segue o seu boleto."},
    ]
    template = approved(components, name="invoice")
    assert [v.ref for v in template_variables(template)] == ["header.media"]
    by_link = template_render(template=template, values={"header.media": "https://alpha.test/boleto.pdf"})
    assert by_link.graph_template["components"] == [
        {"type": "header", "parameters": [{"type": "document", "document": {"link": "https://alpha.test/boleto.pdf"}}]}
    ]
    assert by_link.text == "[Document]\n\nSegue o seu boleto."
    by_id = template_render(template=template, values={"header.media": "1003383421387256"})
    assert by_id.graph_template["components"][0]["parameters"] == [
        {"type": "document", "document": {"id": "1003383421387256"}}
    ]


def test_a_template_without_variables_has_no_components_to_send():
    rendered = template_render(template=approved([{"type": "BODY", "text": "Olá! Como vai?"}], name="hello"), values={})
    assert rendered.graph_template == {"name": "hello", "language": {"code": "pt_BR"}}


def test_render_refuses_every_missing_and_empty_variable_by_label():
    with pytest.raises(ValidationError) as raised:
        template_render(template=approved(POSITIONAL_FULL), values={"header.1": "8123", "body.1": "   "})
    assert messages_of(raised.value) == [
        "Body {{1}} is empty.",
        "Body {{2}} is missing.",
        "Button “Rastrear” link {{1}} is missing.",
    ]


@pytest.mark.parametrize("status", ["draft", "pending", "rejected", "paused", "disabled"])
def test_render_refuses_a_template_that_is_not_approved(status):
    template = approved(POSITIONAL_FULL, status=status)
    with pytest.raises(ValidationError) as raised:
        template_render(template=template, values={"header.1": "1", "body.1": "a", "body.2": "b", "button.1.1": "c"})
    assert messages_of(raised.value) == [
        f"The template “order_update” (pt_BR) is {template.get_status_display()}, not approved by Meta: "
        "it cannot be sent."
    ]


def test_render_refuses_buttons_pytake_cannot_send():
    components = [{"type": "BODY", "text": "Seu código é {{1}}.", "example": {"body_text": [["123"]]}}]
    components.append({"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}]})
    with pytest.raises(ValidationError, match="a otp button, which PyTake cannot send yet"):
        template_render(template=approved(components, name="otp"), values={"body.1": "123"})


def test_preview_fills_examples_and_shows_what_is_unknown():
    text = template_preview(template=approved(POSITIONAL_FULL, status="draft"), values={"body.1": "Rita"})
    assert text.startswith("Pedido 8123\n\nOlá Rita, seu pedido chega amanhã.")
    bare = approved([{"type": "BODY", "text": "Oi {{first_name}}, ok?"}], parameter_format="named", status="draft")
    assert template_preview(template=bare) == "Oi {{first_name}}, ok?"


# --- mapping to data -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_resolve_values_from_contact_custom_fields_appointment_and_typed_values(tenant_a):
    contact = cf.contact(tenant_a.org, name="Ana Souza", phone="+5511987654321", custom_fields={"plan": "Ouro"})
    template = approved(
        [
            {"type": "HEADER", "format": "TEXT", "text": "Olá {{1}}", "example": {"header_text": ["Ana"]}},
            {
                "type": "BODY",
                "text": "Plano {{1}}: consulta {{2}} com {{3}} às {{4}}.",
                "example": {"body_text": [["Ouro", "geral", "Dra. Lia", "10h"]]},
            },
        ]
    )
    mapping = {
        "header.1": {"source": "contact", "field": "first_name"},
        "body.1": {"source": "custom_field", "field": "plan"},
        "body.2": {"source": "value", "value": "de retorno"},
        "body.3": {"source": "appointment", "field": "provider"},
        "body.4": {"source": "appointment", "field": "starts_at"},
    }
    starts_at = dt.datetime(2026, 3, 12, 17, 30, tzinfo=dt.UTC)
    sources = {**contact_sources(contact), "appointment": {"provider": "Dra. Lia", "starts_at": starts_at}}
    with translation.override("pt-br"), timezone.override("America/Sao_Paulo"):
        values = resolve_values(template=template, mapping=mapping, sources=sources)
    assert values == {
        "header.1": "Ana",
        "body.1": "Ouro",
        "body.2": "de retorno",
        "body.3": "Dra. Lia",
        "body.4": "12/03/2026 14:30",
    }
    assert template_render(template=template, values=values).text == (
        "Olá Ana\n\nPlano Ouro: consulta de retorno com Dra. Lia às 12/03/2026 14:30."
    )
    # A field the caller's data lacks resolves empty, and the render then names it.
    values = resolve_values(template=template, mapping=mapping, sources=contact_sources(contact))
    with pytest.raises(ValidationError) as raised:
        template_render(template=template, values=values)
    assert messages_of(raised.value) == ["Body {{3}} is empty.", "Body {{4}} is empty."]


def test_validate_mapping_lists_every_problem():
    template = approved(POSITIONAL_FULL)
    with pytest.raises(ValidationError) as raised:
        validate_mapping(
            template,
            {
                "body.9": {"source": "contact", "field": "name"},
                "body.1": {"source": "crm", "field": "name"},
                "body.2": {"source": "contact", "field": "shoe_size"},
                "header.1": {"source": "value"},
                "button.1.1": "contact.name",
                "button.0.payload": {"source": "value", "value": "confirm"},
            },
            require_all=True,
        )
    assert messages_of(raised.value) == [
        "“body.9” is not a variable of the template “order_update” (its variables: header.1, body.1, body.2, "
        "button.1.1, button.0.payload).",
        "Body {{1}}: the source must be one of contact, custom_field, appointment, value (got “crm”).",
        "Body {{2}}: the contact has no field “shoe_size” (use one of name, first_name, phone, email).",
        "Header {{1}}: a typed value needs its text in “value”.",
        "Button “Rastrear” link {{1}}: give an object with a “source”.",
    ]
    with pytest.raises(ValidationError) as raised:
        validate_mapping(template, {"body.1": {"source": "value", "value": "x"}}, require_all=True)
    assert messages_of(raised.value) == [
        "Header {{1}} is not mapped to a source.",
        "Body {{2}} is not mapped to a source.",
        "Button “Rastrear” link {{1}} is not mapped to a source.",
    ]
    validate_mapping(template, {"body.1": {"source": "value", "value": "x"}})


# --- demo data -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_templates_are_approved_valid_and_seeded_once():
    from accounts.demo import seed_accounts
    from conversations.demo import seed_demo

    seed_accounts()
    seed_demo()
    count = WhatsAppTemplate.objects.count()
    seed_accounts()
    seed_demo()
    assert WhatsAppTemplate.objects.count() == count == 24  # 12 per demo organization
    for template in WhatsAppTemplate.objects.select_related("channel"):
        validate_components(template.components, template.parameter_format)
        assert template.status == "approved" and template.channel.business_account_id
        assert template.organization_id == template.channel.organization_id
    reminders = WhatsAppTemplate.objects.filter(name="appointment_reminder", channel__organization__slug="acme")
    buttons = {t.language: [b["text"] for b in t.components[-1]["buttons"]] for t in reminders}
    assert buttons == {"pt_BR": ["Confirmar", "Cancelar"], "en_US": ["Confirm", "Cancel"]}
    utility = set(WhatsAppTemplate.objects.filter(category="utility").values_list("name", flat=True))
    assert utility == {
        "appointment_confirmation",
        "appointment_reminder",
        "appointment_cancelled",
        "appointment_rescheduled",
        "appointment_follow_up",
    }
    assert WhatsAppTemplate.objects.filter(category="marketing", name="monthly_offer").count() == 4


def test_refusals_are_translated_to_portuguese():
    with translation.override("pt-br"), pytest.raises(ValidationError) as raised:
        template_render(template=approved(POSITIONAL_FULL), values={"header.1": "1", "body.1": "", "button.1.1": "x"})
    assert messages_of(raised.value) == ["Corpo {{1}} está vazio.", "Corpo {{2}} não foi informado."]
