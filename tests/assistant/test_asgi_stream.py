"""The streamed answer under ASGI: an async iterator pulling the provider's pieces as they come."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from conversations import services as conversation_services
from tests.assistant.fakes import Ok
from tests.inbox.conftest import desk  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_stream_is_async_under_asgi(desk, ai_org, fake_openai):  # noqa: F811
    import asyncio

    conversation = conversation_services.inbound_message_receive(
        channel=desk.channel, phone="+5511987650003", body="Olá", name="Ana"
    ).message.conversation
    fake_openai.queue(Ok("Oi Ana, tudo certo por aqui."))

    async def run():
        client = AsyncClient()
        await sync_to_async(client.force_login)(desk.tenant.agent, backend="django.contrib.auth.backends.ModelBackend")
        response = await client.post(reverse("assistant:assist", args=[conversation.pk, "suggest"]))
        assert response.status_code == 200
        assert response.is_async
        body = b"".join([part async for part in response.streaming_content])
        return [json.loads(line) for line in body.decode().splitlines()]

    items = asyncio.run(run())
    assert "".join(i.get("text", "") for i in items) == "Oi Ana, tudo certo por aqui."
    assert items[-1] == {"done": True}
