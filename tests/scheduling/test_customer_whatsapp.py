"""Customers on WhatsApp: appointment messages with the organization's template, email as fallback,
and the reminder's Confirm/Cancel buttons acting on the appointment (once)."""

from __future__ import annotations

import datetime

import pytest

from conversations import services as conversation_services
from conversations.models import Message
from notifications import services as outbox
from scheduling import buttons, services
from scheduling.models import AppointmentStatus
from tests import factories as base
from tests.conversations import factories as cf
from tests.conversations.test_outbound import GRAPH_OK
from tests.scheduling import factories

pytestmark = pytest.mark.django_db

REMINDER = [
    {"type": "HEADER", "format": "TEXT", "text": "Lembrete de agendamento"},
    {
        "type": "BODY",
        "text": "Olá, {{customer_name}}! Lembrete: {{service}} em {{starts_at}}. Você confirma sua presença?",
        "example": {
            "body_text_named_params": [
                {"param_name": "customer_name", "example": "Ana"},
                {"param_name": "service", "example": "Consulta"},
                {"param_name": "starts_at", "example": "12/03/2026 14:30"},
            ]
        },
    },
    {
        "type": "BUTTONS",
        "buttons": [{"type": "QUICK_REPLY", "text": "Confirmar"}, {"type": "QUICK_REPLY", "text": "Cancelar"}],
    },
]


@pytest.fixture
def graph(httpserver, settings):
    settings.WHATSAPP_GRAPH_BASE_URL = httpserver.url_for("/v21.0")
    settings.WHATSAPP_HTTP_TIMEOUT = 2
    return httpserver


@pytest.fixture
def clinic():
    org = base.organization(name="Clínica Sol", time_zone="America/Sao_Paulo", locale="pt-br")
    channel = cf.channel(org, phone_number_id="106540352242922", access_token="EAAG-test-token")
    reminder = cf.approved_template(
        org, channel, name="appointment_reminder", components=REMINDER, parameter_format="named"
    )
    rules = factories.settings(org, minimum_notice_minutes=0, change_notice_minutes=0)
    rules.reminder_template = reminder
    rules.full_clean()
    rules.save()
    prov = factories.provider(org, full_name="Dra. Ana")
    svc = factories.service(org, name="Consulta", duration=45, providers=[prov])
    return org, channel, reminder, prov, svc


def _reminded(clinic, **fields):
    org, _channel, _reminder, prov, svc = clinic
    fields.setdefault("email", "maria@example.com")
    appointment = factories.appointment(
        org, svc=svc, prov=prov, start=factories.at(org, factories.future_day(7), 10), name="Maria Souza", **fields
    )
    assert services.reminders_send_due(now=appointment.start - datetime.timedelta(hours=23)) == 1
    return appointment, factories.customer_row(appointment, "reminder:1440")


def test_a_reminder_reaches_the_customer_on_whatsapp_with_the_template(graph, clinic):
    appointment, row = _reminded(clinic)
    assert (row.channel, row.transport, row.recipient) == ("whatsapp", "whatsapp.direct", appointment.customer_phone)
    assert row.metadata["delivery_choice"] == {"channel": "whatsapp", "template": "appointment_reminder (pt_BR)"}
    template = row.payload["message"]["template"]
    body = next(c for c in template["components"] if c["type"] == "body")
    assert [p["parameter_name"] for p in body["parameters"]] == ["customer_name", "service", "starts_at"]
    assert body["parameters"][0]["text"] == "Maria Souza" and body["parameters"][1]["text"] == "Consulta"
    assert "10:00" in body["parameters"][2]["text"]  # the organization's wall clock
    quick = [c for c in template["components"] if c.get("sub_type") == "quick_reply"]
    assert [buttons.parse_payload(c["parameters"][0]["payload"]) for c in quick] == [
        (appointment.pk, "confirm"),
        (appointment.pk, "cancel"),
    ]
    graph.expect_oneshot_request(
        "/v21.0/106540352242922/messages",
        method="POST",
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "template",
            "template": template,
            "to": appointment.customer_phone.lstrip("+"),
        },
    ).respond_with_json(GRAPH_OK)
    outbox.notification_deliver(log_id=row.pk)
    graph.check_assertions()
    row.refresh_from_db()
    assert row.status == "sent" and row.provider_message_id == GRAPH_OK["messages"][0]["id"]


def test_email_is_the_fallback_when_the_template_is_not_approved(clinic):
    org, _channel, reminder, _prov, _svc = clinic
    type(reminder).objects.filter(pk=reminder.pk).update(status="paused")
    _appointment, row = _reminded(clinic)
    assert (row.channel, row.transport, row.recipient) == ("email", "scheduling.email", "maria@example.com")
    assert "not approved" in row.metadata["delivery_choice"]["why_not_whatsapp"]


def test_no_phone_or_opted_out_falls_back_to_email_and_nothing_reaches_a_blocked_contact(clinic):
    org, *_ = clinic
    appointment, row = _reminded(clinic)
    conversation_services.contact_set_opt_in(contact=appointment.contact, opt_in="opted_out", source="agent")
    services.appointment_cancel(appointment=appointment)
    cancelled = factories.customer_row(appointment, "cancelled")
    assert cancelled.channel == "email" and "opted out" in cancelled.metadata["delivery_choice"]["why_not_whatsapp"]
    other, _ = _reminded(clinic)
    conversation_services.contact_set_blocked(contact=other.contact, blocked=True)
    services.appointment_cancel(appointment=other)
    blocked = factories.customer_row(other, "cancelled")
    assert blocked.status == "skipped" and blocked.reason == "blocked"


def _tap(channel, appointment, action, wamid):
    return conversation_services.inbound_message_receive(
        channel=channel,
        phone=appointment.customer_phone,
        body="Confirmar" if action == "confirm" else "Cancelar",
        provider_message_id=wamid,
        reply_payload=buttons.button_payload(appointment, action),
        context_message_id="wamid.reminder",
    ).message


def test_confirm_tapped_twice_confirms_once_and_answers_both_times(clinic, recorded_events):
    _org, channel, *_ = clinic
    appointment, _row = _reminded(clinic)
    assert appointment.status == AppointmentStatus.PENDING
    first = _tap(channel, appointment, "confirm", "wamid.tap1")
    appointment.refresh_from_db()
    confirmed_at = appointment.confirmed_at
    assert appointment.status == AppointmentStatus.CONFIRMED and confirmed_at
    _tap(channel, appointment, "confirm", "wamid.tap2")
    appointment.refresh_from_db()
    assert appointment.confirmed_at == confirmed_at
    answers = list(
        Message.objects.filter(conversation=first.conversation, author_type="system")
        .order_by("id")
        .values_list("body", flat=True)
    )
    assert len(answers) == 2 and "está confirmado" in answers[0] and "já estava confirmado" in answers[1]
    # Answered in the chat: no second confirmation message through another channel.
    assert factories.customer_row(appointment, "confirmed") is None


def test_cancel_button_cancels_once_and_a_forged_payload_does_nothing(clinic):
    _org, channel, *_ = clinic
    appointment, _row = _reminded(clinic)
    forged = conversation_services.inbound_message_receive(
        channel=channel,
        phone=appointment.customer_phone,
        body="Cancelar",
        provider_message_id="wamid.forged",
        reply_payload=f"appt:{appointment.pk}:cancel:not-our-signature",
    ).message
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.PENDING
    assert not Message.objects.filter(conversation=forged.conversation, author_type="system").exists()
    _tap(channel, appointment, "cancel", "wamid.c1")
    _tap(channel, appointment, "cancel", "wamid.c2")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    answers = list(Message.objects.filter(author_type="system").order_by("id").values_list("body", flat=True))
    assert "está cancelado" in answers[0] and "já estava cancelado" in answers[1]
    # The customer's "Cancelar" tap never opted them out (buttons are not keywords).
    appointment.contact.refresh_from_db()
    assert appointment.contact.opt_in != "opted_out"


def test_a_button_for_another_contacts_appointment_does_nothing(clinic):
    org, channel, *_ = clinic
    appointment, _row = _reminded(clinic)
    stranger = conversation_services.inbound_message_receive(
        channel=channel,
        phone="+5511987650999",
        body="Confirmar",
        provider_message_id="wamid.stranger",
        reply_payload=buttons.button_payload(appointment, "confirm"),
    ).message
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.PENDING
    assert not Message.objects.filter(conversation=stranger.conversation, author_type="system").exists()
