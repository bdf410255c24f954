"""Signed WhatsApp deliveries with malformed items: a 400 naming each problem, the good items stored.

Every case posts one delivery holding a well-formed message (entry 0) and the bad item (entry 1,
or a second message of the same change): the answer is a 400 whose ``problems`` say where and
what, and the good message is in the database all the same. Meta redelivers a refused delivery;
the stored message is then a duplicate, not a second row.
"""

from __future__ import annotations

import copy
import json

import pytest
from django.test import Client, override_settings

from conversations.channels import whatsapp
from conversations.models import Contact, Message
from tests import factories
from tests.conversations import factories as cf

# The webhook applies a delivery on a connection of its own (a worker thread): committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)

GOOD_WAMID = "wamid.good-one"


@pytest.fixture
def channel(tenant_a):
    queue = factories.queue(tenant_a.org, routing_strategy="manual")
    return cf.channel(tenant_a.org, queue=queue)


def _message(wamid: str, sender: str = "5511987654321", body: str = "Olá") -> dict:
    return {"from": sender, "id": wamid, "timestamp": "1750000000", "type": "text", "text": {"body": body}}


def _entry(channel, *, messages=None, statuses=None, contacts=None) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": channel.phone_number_id},
    }
    for key, items in (("messages", messages), ("statuses", statuses), ("contacts", contacts)):
        if items is not None:
            value[key] = items
    return {"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}


def delivery(channel, bad_entry: dict) -> dict:
    good = _entry(
        channel,
        messages=[_message(GOOD_WAMID)],
        contacts=[{"profile": {"name": "Maria"}, "wa_id": "5511987654321"}],
    )
    return {"object": "whatsapp_business_account", "entry": [good, bad_entry]}


def post(channel, payload=None, *, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    client = Client(raise_request_exception=False)
    with override_settings(DEBUG=False):
        return client.post(
            f"/webhooks/whatsapp/{channel.public_id}/",
            body,
            content_type="application/json",
            headers={whatsapp.SIGNATURE_HEADER: whatsapp.signature_for(body, channel.app_secret)},
        )


def _id_limit() -> int:
    return Message._meta.get_field("provider_message_id").max_length or whatsapp.ID_MAX_CHARS_DEFAULT


def _nested(depth: int):
    value: object = "deep"
    for _ in range(depth):
        value = [value]
    return value


def _with_message(channel, **changes) -> dict:
    return _entry(channel, messages=[{**_message("wamid.bad"), **changes}])


BAD_ITEMS = {
    "string where an object is": (
        lambda ch: _with_message(ch, text="just a string"),
        "entry[1].changes[0].value.messages[0].text is missing or is not an object",
    ),
    "number where a list is (messages)": (
        lambda ch: _entry(ch, messages=5),
        "entry[1].changes[0].value.messages must be a list",
    ),
    "number where a list is (statuses)": (
        lambda ch: _entry(ch, statuses=7),
        "entry[1].changes[0].value.statuses must be a list",
    ),
    "number where a list is (changes)": (
        lambda ch: {"id": "1", "changes": 3},
        "entry[1].changes is missing or is not a list",
    ),
    "number where a list is (status errors)": (
        lambda ch: _entry(ch, statuses=[{"id": "wamid.s", "status": "failed", "errors": 5}]),
        "entry[1].changes[0].value.statuses[0].errors must be a list",
    ),
    "string where an object is (interactive reply)": (
        lambda ch: _with_message(ch, type="interactive", interactive={"button_reply": "yes"}),
        "messages[0].interactive.button_reply must be an object",
    ),
    "deeply nested body": (
        lambda ch: _with_message(ch, text={"body": _nested(200)}),
        "messages[0].text.body is missing or is not a string",
    ),
    "message id over the column length": (
        lambda ch: _with_message(ch, id="wamid." + "x" * _id_limit()),
        f"messages[0].id is {_id_limit() + 6} characters long, over the limit of {_id_limit()}",
    ),
    "NUL in a message id": (
        lambda ch: _with_message(ch, id="wamid.\x00bad"),
        "messages[0].id contains a NUL character or a lone surrogate",
    ),
    "lone surrogate in a sender id": (
        lambda ch: _with_message(ch, **{"from": "5511\ud800"}),
        "messages[0].from contains a NUL character or a lone surrogate",
    ),
    "NUL in a status id": (
        lambda ch: _entry(ch, statuses=[{"id": "wamid.\x00", "status": "read", "timestamp": "1"}]),
        "statuses[0].id contains a NUL character or a lone surrogate",
    ),
    "a refused phone number": (
        lambda ch: _with_message(ch, **{"from": "12"}),
        "message wamid.bad refused",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ITEMS), ids=list(BAD_ITEMS))
def test_a_bad_item_is_named_and_the_good_message_is_stored(channel, case):
    build, problem = BAD_ITEMS[case]
    payload = delivery(channel, build(channel))
    response = post(channel, payload)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert any(problem in p for p in answer["problems"]), answer
    assert problem in answer["error"]
    assert answer["messages_stored"] == 1
    assert Message.objects.filter(organization=channel.organization, provider_message_id=GOOD_WAMID).count() == 1
    assert not Message.objects.filter(provider_message_id__startswith="wamid.bad").exists()

    again = post(channel, payload)  # Meta redelivers the refused delivery: the good message is a duplicate
    assert again.status_code == 400 and again.json()["duplicates"] == 1
    assert Message.objects.filter(provider_message_id=GOOD_WAMID).count() == 1


def test_contacts_of_the_wrong_type_are_named_and_the_message_is_stored_without_a_name(channel):
    bad = _entry(channel, messages=[_message("wamid.nameless", sender="5511911112222")], contacts=3)
    response = post(channel, delivery(channel, bad))
    assert response.status_code == 400
    assert response.json()["problems"] == ["entry[1].changes[0].value.contacts must be a list"]
    assert Message.objects.filter(provider_message_id__in=[GOOD_WAMID, "wamid.nameless"]).count() == 2


def test_nul_and_lone_surrogates_in_free_text_are_removed_and_the_message_stored(channel):
    payload = delivery(
        channel,
        _entry(
            channel,
            messages=[_message("wamid.text", sender="5511933334444", body="Oi\x00 tudo\ud83d bem?")],
            contacts=[{"profile": {"name": "Jo\x00ão\udfff"}, "wa_id": "5511933334444"}],
        ),
    )
    response = post(channel, payload)
    assert response.status_code == 200, response.content
    assert response.json()["messages_stored"] == 2
    assert Message.objects.get(provider_message_id="wamid.text").body == "Oi tudo bem?"
    assert Contact.objects.get(organization=channel.organization, phone="+5511933334444").name == "João"


def test_media_fields_are_cleaned_where_they_are_parsed():
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "1"},
                            "messages": [
                                {
                                    "from": "5511",
                                    "id": "wamid.m",
                                    "type": "document",
                                    "document": {
                                        "id": "77",
                                        "mime_type": "application/pdf\x00",
                                        "filename": "re\udc00cibo.pdf",
                                        "caption": "\x00",
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    }
    notification = whatsapp.parse_notification(json.dumps(body).encode())
    assert notification.problems == []
    (message,) = notification.messages
    assert (message.mime_type, message.filename, message.body) == ("application/pdf", "recibo.pdf", "")


def test_a_body_nested_too_deeply_is_refused_whole(channel):
    raw = b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = post(channel, raw=raw)
    assert response.status_code == 400
    assert response.json() == {"error": "malformed notification: body is nested too deeply"}


def test_a_wrong_type_at_the_top_is_refused_whole(channel):
    for payload, problem in (
        ({"object": "whatsapp_business_account", "entry": "x"}, "body.entry is missing or is not a list"),
        (["not", "an", "object"], "body must be a JSON object"),
    ):
        response = post(channel, payload)
        assert response.status_code == 400
        assert response.json()["error"] == f"malformed notification: {problem}"
    assert not Message.objects.exists()


def test_a_clean_delivery_still_answers_200(channel):
    payload = delivery(channel, _entry(channel, messages=[copy.deepcopy(_message("wamid.second"))]))
    response = post(channel, payload)
    assert response.status_code == 200
    assert response.json() == {"messages_stored": 2, "duplicates": 0, "statuses_applied": 0, "ignored": 0}
