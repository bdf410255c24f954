"""Two Daphne processes on one machine, as the deployment guide runs them: every tab sees every event once."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import Client

from conversations.models import Message
from tests.inbox.live import Daphne

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return f"sessionid={client.cookies['sessionid'].value}"


async def listen(url: str, cookie: str, ready: asyncio.Event, expected: int) -> list[int]:
    """The message ids of the ``message.received`` events one tab gets, until ``expected`` arrived."""
    from websockets.asyncio.client import connect

    ids: list[int] = []
    async with connect(
        url.replace("http://", "ws://") + "/ws/inbox/", origin=url, additional_headers={"Cookie": cookie}
    ) as ws:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["type"] == "hello":
                ready.set()
            for event in frame["events"] if frame["type"] == "events" else [frame]:
                if event.get("event") == "message.received":
                    ids.append(event["message_id"])
            if len(ids) >= expected:
                # Anything more (a duplicate) would arrive right behind; give it the chance.
                try:
                    extra = json.loads(await asyncio.wait_for(ws.recv(), 1))
                except TimeoutError:
                    return ids
                for event in extra["events"] if extra["type"] == "events" else [extra]:
                    if event.get("event") == "message.received":
                        ids.append(event["message_id"])
                return ids


def test_tabs_on_either_process_get_every_event_once(desk):
    first, second = Daphne("two-processes-a").start(), Daphne("two-processes-b").start()
    try:
        cookies = [session_cookie(user) for user in (desk.tenant.agent, desk.tenant.admin, desk.tenant.viewer)]
        servers = [first, second]

        async def scenario():
            readies = [asyncio.Event() for _ in range(6)]
            tabs = [
                asyncio.create_task(listen(servers[n % 2].url, cookies[n % 3], readies[n], expected=6))
                for n in range(6)
            ]
            await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 30)
            loop = asyncio.get_running_loop()
            for n in range(6):  # alternate the process that takes the webhook, as a proxy would
                await loop.run_in_executor(
                    None,
                    lambda n=n: servers[n % 2].post_webhook(
                        desk.whatsapp,
                        phone=f"+55119876500{n % 2}0",
                        name="Two",
                        body=f"m{n}",
                        message_id=f"wamid.two-{n}",
                    ),
                )
            return await asyncio.gather(*tabs)

        received = asyncio.run(scenario())
    finally:
        first.stop()
        second.stop()
    expected = list(
        Message.objects.filter(provider_message_id__startswith="wamid.two-").order_by("id").values_list("pk", flat=True)
    )
    assert len(expected) == 6
    assert received == [expected] * 6  # each tab, on either process: every message once, in order
