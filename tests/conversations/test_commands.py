"""simulate_inbound posts a signed webhook over HTTP; bad arguments are clear errors."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Message
from tests import factories
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel(tenant_a):
    return cf.channel(tenant_a.org, queue=factories.queue(tenant_a.org, routing_strategy="manual"), name="Main number")


def test_simulate_inbound_stores_the_message_through_the_webhook(live_server, tenant_a, channel, capsys):
    call_command(
        "simulate_inbound",
        org="alpha",
        phone="+55 11 98765-4321",
        text="Quero marcar consulta",
        name="Rita",
        url=live_server.url,
    )
    out = capsys.readouterr().out
    assert f"/webhooks/whatsapp/{channel.public_id}/" in out and "Accepted" in out
    message = Message.objects.get()
    assert message.body == "Quero marcar consulta" and message.provider_message_id.startswith("wamid.sim-")
    assert message.conversation.contact.phone == "+5511987654321" and message.conversation.contact.name == "Rita"
    # The same message id again is deduplicated by the webhook.
    for _ in range(2):
        call_command(
            "simulate_inbound",
            org="alpha",
            phone="+5511987654321",
            text="again",
            url=live_server.url,
            message_id="wamid.fixed",
            channel="main number",
        )
    assert Message.objects.count() == 2


def test_simulate_inbound_console_channel_needs_no_server(tenant_a):
    cf.channel(tenant_a.org, kind="console", name="Dev console")
    call_command("simulate_inbound", org="alpha", phone="+5511987654321", text="hi", channel="Dev console")
    assert Message.objects.get().body == "hi"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"org": "nope"}, "Unknown organization"),
        ({"phone": "123"}, "phone"),
        ({"channel": "missing"}, "No active channel"),
        ({"text": "   "}, "must not be empty"),
        ({"url": "http://127.0.0.1:9"}, "Could not connect"),
    ],
)
def test_simulate_inbound_bad_arguments(tenant_a, channel, kwargs, message):
    options = {"org": "alpha", "phone": "+5511987654321", "text": "hello", **kwargs}
    with pytest.raises(CommandError, match=message):
        call_command("simulate_inbound", **options)
    assert not Message.objects.exists()


def test_simulate_inbound_reports_a_refusal(live_server, tenant_a, channel):
    with pytest.raises(CommandError, match="answered 404"):
        call_command(
            "simulate_inbound", org="alpha", phone="+5511987654321", text="hi", url=live_server.url + "/not-pytake"
        )
    assert not Message.objects.exists()
