"""The inbox's AI actions: who sees them, what is streamed back, what is sent to the provider."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from conversations import services as conversation_services
from conversations.assistant import calls
from conversations.models import AuthorType, Message
from tests.assistant.conftest import enable
from tests.assistant.fakes import Error, Ok
from tests.conversations import factories as cf
from tests.inbox.conftest import desk  # noqa: F401

pytestmark = pytest.mark.django_db


def lines(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.fixture
def chat(desk, ai_org):  # noqa: F811
    received = conversation_services.inbound_message_receive(
        channel=desk.channel,
        phone="+5511987650001",
        body="Oi, meu pedido 1234 não chegou. Meu email é maria@example.com e fone +55 11 98765-0001",
        name="Maria",
    )
    return received.message.conversation


def test_agents_get_the_bar_viewers_and_disabled_organizations_do_not(chat, desk, client_for):  # noqa: F811
    url = reverse("assistant:bar", args=[chat.pk])
    response = client_for(desk.tenant.agent).get(url)
    assert response.status_code == 200
    assert 'id="assistant-actions"' in response.content.decode()
    assert client_for(desk.tenant.viewer).get(url).status_code == 403
    assert (
        client_for(desk.tenant.viewer).post(reverse("assistant:assist", args=[chat.pk, "suggest"])).status_code == 403
    )
    inbox = client_for(desk.tenant.viewer).get(reverse("inbox:index") + f"?c={chat.pk}").content.decode()
    assert "assistant-slot" not in inbox and "ai-suggest" not in inbox
    assert (
        "assistant-slot" in client_for(desk.tenant.agent).get(reverse("inbox:index") + f"?c={chat.pk}").content.decode()
    )

    enable(desk.tenant.org, enabled=False)
    assert client_for(desk.tenant.agent).get(url).status_code == 204
    response = client_for(desk.tenant.agent).post(reverse("assistant:assist", args=[chat.pk, "suggest"]))
    assert response.status_code == 403
    assert response.json()["error"] == "AI help is turned off for this organization."


def test_suggest_streams_lines_and_sends_only_this_conversation(chat, desk, fake_openai, client_for):  # noqa: F811
    cf.canned_response(desk.tenant.org, shortcut="atraso", title="Atraso", body="Sentimos muito pelo atraso!")
    other = conversation_services.inbound_message_receive(
        channel=desk.channel, phone="+5511987650002", body="SEGREDO de outra conversa", name="João"
    )
    assert other.message.conversation_id != chat.pk
    fake_openai.queue(Ok("Olá Maria, sentimos muito pelo atraso!"))
    response = client_for(desk.tenant.agent).post(reverse("assistant:assist", args=[chat.pk, "suggest"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    items = lines(response)
    assert items[-1] == {"done": True}
    assert "".join(item.get("text", "") for item in items) == "Olá Maria, sentimos muito pelo atraso!"
    sent = json.dumps(fake_openai.requests[0].body, ensure_ascii=False)
    assert "meu pedido 1234" in sent
    assert "/atraso (Atraso): Sentimos muito pelo atraso!" in sent
    assert "SEGREDO" not in sent
    assert "maria@example.com" in sent  # redaction is off by default
    # Nothing was sent to the customer: the suggestion only goes into the composer.
    assert not Message.objects.filter(conversation=chat, author_type=AuthorType.AGENT).exists()


def test_redaction_replaces_phones_and_emails(chat, desk, fake_openai, client_for):  # noqa: F811
    enable(desk.tenant.org, redact_contact_data=True)
    response = client_for(desk.tenant.agent).post(
        reverse("assistant:assist", args=[chat.pk, "rewrite"]),
        {"mode": "formal", "draft": "Ligue para (11) 3333-4444 ou escreva a suporte@loja.com.br"},
    )
    assert lines(response)[-1] == {"done": True}
    sent = json.dumps(fake_openai.requests[0].body, ensure_ascii=False)
    for secret in ("maria@example.com", "98765-0001", "3333-4444", "suporte@loja.com.br"):
        assert secret not in sent
    assert "[email]" in sent and "[phone]" in sent
    assert "meu pedido 1234" in sent  # order numbers are short: not taken for phones


def test_rewrite_validates_its_input(chat, desk, client_for):  # noqa: F811
    client = client_for(desk.tenant.agent)
    url = reverse("assistant:assist", args=[chat.pk, "rewrite"])
    response = client.post(url, {"mode": "poetic", "draft": "hi"})
    assert (response.status_code, response.json()["error"]) == (
        400,
        "Choose how to rewrite: more formal, shorter or translated.",
    )
    response = client.post(url, {"mode": "shorter", "draft": "   "})
    assert (response.status_code, response.json()["error"]) == (400, "Write a draft first; the assistant rewrites it.")
    assert client.post(reverse("assistant:assist", args=[chat.pk, "poem"])).status_code == 404
    assert client.post(reverse("assistant:assist", args=[999999, "suggest"])).status_code == 404
    assert client.get(reverse("assistant:assist", args=[chat.pk, "suggest"])).status_code == 405


def test_translate_asks_for_the_contacts_language(chat, desk, fake_anthropic, fake_openai, client_for):  # noqa: F811
    fake_openai.queue(
        Error(500, "server_error", "down", {"retry-after-ms": "10"}),
        Error(500, "server_error", "down", {"retry-after-ms": "10"}),
    )
    fake_anthropic.queue(Ok("Olá! Seu pedido chega amanhã."))
    response = client_for(desk.tenant.agent).post(
        reverse("assistant:assist", args=[chat.pk, "rewrite"]),
        {"mode": "translate", "draft": "Hi! Your order arrives tomorrow."},
    )
    items = lines(response)
    assert "".join(i.get("text", "") for i in items) == "Olá! Seu pedido chega amanhã."
    body = fake_anthropic.requests[0].body
    assert "language the customer writes in" in body["system"]
    assert "Hi! Your order arrives tomorrow." in body["messages"][0]["content"]


def test_budget_used_up_is_refused_before_streaming(chat, desk, fake_openai, client_for):  # noqa: F811
    enable(desk.tenant.org, monthly_token_budget=10)
    calls.record_call(
        organization=desk.tenant.org,
        provider=desk.tenant.org.assistant_providers.first(),
        feature="suggest",
        outcome="ok",
        usage=calls.Usage(8, 2),
        latency_ms=5,
    )
    response = client_for(desk.tenant.agent).post(reverse("assistant:assist", args=[chat.pk, "summarize"]))
    assert response.status_code == 429
    assert "This month's AI budget of 10 tokens is used up" in response.json()["error"]
    assert fake_openai.requests == []


def test_a_stream_that_fails_everywhere_ends_with_the_reason(chat, desk, fake_openai, fake_anthropic, client_for):  # noqa: F811
    fast = {"retry-after-ms": "10"}
    fake_openai.queue(Error(500, "server_error", "down", fast), Error(500, "server_error", "down", fast))
    fake_anthropic.queue(Error(500, "api_error", "down", fast), Error(500, "api_error", "down", fast))
    response = client_for(desk.tenant.agent).post(reverse("assistant:assist", args=[chat.pk, "summarize"]))
    [item] = lines(response)
    assert item["error"].startswith("No AI provider answered.")


def test_transfer_puts_the_summary_into_the_system_message(chat, desk, client_for):  # noqa: F811
    client = client_for(desk.tenant.agent)
    response = client.post(
        reverse("inbox:act", args=[chat.pk]),
        {
            "action": "transfer",
            "agent": desk.admin.pk,
            "summary": "Cliente espera o pedido 1234; prometemos retorno hoje.",
        },
    )
    assert response.status_code == 302
    system = Message.objects.filter(conversation=chat, author_type=AuthorType.SYSTEM).latest("id")
    assert "Transferred from" in system.body
    assert "Summary: Cliente espera o pedido 1234; prometemos retorno hoje." in system.body
