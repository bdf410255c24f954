"""Consent (keywords in both languages, sources, history) and WhatsApp's 24-hour window."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversations import selectors, services
from conversations.models import ConsentChange, Conversation, DeliveryStatus, Message, OptIn
from notifications.models import NotificationLog
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    channel = cf.channel(tenant_a.org, queue=queue)
    agent = cf.online_agent(tenant_a.org, queue=queue)
    return tenant_a.org, channel, agent


def _automatic_replies(conversation):
    return list(Message.objects.filter(conversation=conversation, author_type="system", kind="text").order_by("id"))


@pytest.mark.parametrize(
    "word,locale,answer",
    [("STOP", "en", "no longer receive"), (" parar! ", "pt-br", "não receberá"), ("Sair", "pt-br", "não receberá")],
)
def test_opt_out_keywords_in_both_languages_opt_out_and_answer(setup, word, locale, answer):
    org, channel, _agent = setup
    org.locale = locale
    org.save(update_fields=["locale"])
    inbound = services.inbound_message_receive(channel=channel, phone="+5511987650101", body=word).message
    contact = inbound.conversation.contact
    contact.refresh_from_db()
    assert contact.opt_in == OptIn.OPTED_OUT and contact.opt_in_source == "inbound_keyword"
    assert contact.opt_in_changed_at is not None
    change = ConsentChange.objects.get(contact=contact)
    assert (change.kind, change.value, change.source) == ("messaging", "opted_out", "inbound_keyword")
    (reply,) = _automatic_replies(inbound.conversation)
    assert answer in reply.body and reply.delivery_status == DeliveryStatus.QUEUED
    # The confirmation goes out through the outbox even though the contact just opted out.
    row = NotificationLog.objects.get(dedupe_key=f"message:{reply.pk}")
    assert row.status == "pending" and row.recipient == "+5511987650101"


def test_opt_in_keyword_opts_back_in_and_agents_cannot_message_opted_out_contacts(setup):
    org, channel, agent = setup
    first = services.inbound_message_receive(channel=channel, phone="+5511987650102", body="STOP").message
    conversation = first.conversation
    with pytest.raises(ValidationError, match="opted out"):
        services.message_send(conversation=conversation, author=agent, body="hello?")
    services.inbound_message_receive(channel=channel, phone="+5511987650102", body="voltar")
    contact = conversation.contact
    contact.refresh_from_db()
    assert contact.opt_in == OptIn.OPTED_IN
    assert list(ConsentChange.objects.filter(contact=contact).order_by("id").values_list("value", flat=True)) == [
        "opted_out",
        "opted_in",
    ]
    assert len(_automatic_replies(conversation)) == 2
    services.message_send(conversation=conversation, author=agent, body="Welcome back!")


def test_a_sentence_containing_a_keyword_and_a_button_reply_are_not_keywords(setup):
    org, channel, _agent = setup
    services.inbound_message_receive(channel=channel, phone="+5511987650103", body="please do not stop now")
    services.inbound_message_receive(
        channel=channel, phone="+5511987650103", body="Cancelar", reply_payload="anything", provider_message_id="w.b1"
    )
    contact = Conversation.objects.get(contact__phone="+5511987650103").contact
    assert contact.opt_in == OptIn.UNKNOWN and not ConsentChange.objects.filter(contact=contact).exists()


def test_keywords_and_answers_are_configurable_and_blocked_contacts_get_no_answer(setup):
    org, channel, _agent = setup
    rules = services.messaging_settings_ensure(organization=org)
    rules.opt_out_keywords = ["BASTA"]
    rules.opt_out_reply = "Ok, sem mais mensagens."
    rules.full_clean()
    rules.save()
    inbound = services.inbound_message_receive(channel=channel, phone="+5511987650104", body="basta").message
    assert [m.body for m in _automatic_replies(inbound.conversation)] == ["Ok, sem mais mensagens."]
    other = services.inbound_message_receive(channel=channel, phone="+5511987650105", body="hi").message
    services.contact_set_blocked(contact=other.conversation.contact, blocked=True)
    services.inbound_message_receive(channel=channel, phone="+5511987650105", body="BASTA")
    assert _automatic_replies(other.conversation) == []
    assert Conversation.objects.get(pk=other.conversation_id).contact.opt_in == OptIn.OPTED_OUT


def test_keyword_validation_is_clear(setup):
    org, _channel, _agent = setup
    rules = services.messaging_settings_ensure(organization=org)
    rules.opt_out_keywords = "STOP"
    with pytest.raises(ValidationError, match="list of words"):
        rules.full_clean()


def test_agent_consent_changes_record_source_and_actor(setup):
    org, _channel, agent = setup
    contact = cf.contact(org)
    services.contact_set_opt_in(contact=contact, opt_in=OptIn.OPTED_IN, source="form", by=agent.user)
    services.contact_set_marketing_consent(contact=contact, granted=True, source="import")
    contact.refresh_from_db()
    assert contact.opt_in_source == "form" and contact.marketing_opt_in and contact.marketing_opt_in_changed_at
    kinds = list(ConsentChange.objects.filter(contact=contact).order_by("id").values_list("kind", "source", "by"))
    assert kinds == [("messaging", "form", agent.user_id), ("marketing", "import", None)]
    with pytest.raises(ValidationError, match="Unknown consent source"):
        services.contact_set_opt_in(contact=contact, opt_in=OptIn.OPTED_IN, source="telepathy")


def _conversation_with_last_inbound(org, channel, at):
    conversation = cf.conversation(org, channel=channel, customer_wrote=False)
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=at)
    conversation.refresh_from_db()
    return conversation


def test_the_window_refuses_free_text_at_24_hours_and_a_second(setup):
    org, channel, agent = setup
    now = timezone.now()
    late = _conversation_with_last_inbound(org, channel, now - datetime.timedelta(hours=24, seconds=1))
    window = selectors.service_window(organization=org, contact=late.contact, channel=channel)
    assert window.applies and not window.is_open and window.closes_at < now
    with pytest.raises(ValidationError, match="24-hour window to answer freely closed at") as error:
        services.message_send(conversation=late, author=agent, body="Sorry for the delay")
    assert error.value.code == "window_closed"
    assert not Message.objects.filter(conversation=late, direction="outbound").exists()


def test_the_window_allows_free_text_at_23_hours_59_minutes(setup):
    org, channel, agent = setup
    now = timezone.now()
    fresh = _conversation_with_last_inbound(org, channel, now - datetime.timedelta(hours=23, minutes=59))
    window = selectors.service_window(organization=org, contact=fresh.contact, channel=channel)
    assert window.is_open and window.closes_at > now
    message = services.message_send(conversation=fresh, author=agent, body="Still in time")
    assert message.delivery_status == DeliveryStatus.QUEUED


def test_a_contact_who_never_wrote_needs_a_template_and_console_channels_have_no_window(setup):
    org, channel, agent = setup
    never = cf.conversation(org, channel=channel, customer_wrote=False)
    with pytest.raises(ValidationError, match="has not written to this number yet"):
        services.message_send(conversation=never, author=agent, body="Hi!")
    console = cf.channel(org, kind="console")
    dev = cf.conversation(org, channel=console, customer_wrote=False)
    assert not selectors.service_window(organization=org, contact=dev.contact, channel=console).applies
    services.message_send(conversation=dev, author=agent, body="Hi from the console")


def test_the_window_is_per_number_and_spans_the_contacts_conversations(setup):
    org, channel, agent = setup
    contact = cf.contact(org)
    earlier = cf.conversation(org, channel=channel, contact_=contact)
    services.conversation_close(conversation=earlier)
    later = cf.conversation(org, channel=channel, contact_=contact, customer_wrote=False)
    services.message_send(conversation=later, author=agent, body="Following up")  # the earlier message counts
    other_number = cf.channel(org)
    elsewhere = cf.conversation(org, channel=other_number, contact_=contact, customer_wrote=False)
    with pytest.raises(ValidationError, match="has not written to this number yet"):
        services.message_send(conversation=elsewhere, author=agent, body="Hi")
