"""Builders for conversations test data, through the services."""

from __future__ import annotations

import itertools

from accounts.models import AgentStatus, Membership
from conversations import services
from conversations.models import Channel, ChannelKind, Contact, Conversation, Message, Tag
from tests import factories

_seq = itertools.count(1)


def phone() -> str:
    return f"+55119{next(_seq) + 70000000:08d}"


def tag(org, name: str | None = None) -> Tag:
    return services.tag_create(organization=org, name=name or f"tag-{next(_seq)}")


def contact(org, **fields) -> Contact:
    fields.setdefault("phone", phone())
    fields.setdefault("name", f"Contact {next(_seq)}")
    return services.contact_create(organization=org, **fields)


def channel(org, kind: str = ChannelKind.WHATSAPP, queue=None, **fields) -> Channel:
    n = next(_seq)
    values = {
        "name": f"Channel {n}",
        "kind": kind,
        "default_queue": queue,
        "display_phone": "+5511955550000" if kind == ChannelKind.WHATSAPP else "",
    }
    if kind == ChannelKind.WHATSAPP:
        values.update(
            phone_number_id=f"10{n:013d}",
            access_token=f"token-{n}",
            app_secret=f"secret-{n}",
            verify_token=f"verify-{n}",
        )
    values.update(fields)
    return services.channel_create(organization=org, **values)


def online_agent(org, queue=None, **fields) -> Membership:
    membership = factories.member(org, **fields)
    membership.status = AgentStatus.ONLINE
    membership.save(update_fields=["status"])
    if queue is not None:
        queue.agents.add(membership)
    return membership


def conversation(org, queue=None, channel=None, contact_=None, **fields) -> Conversation:
    return services.conversation_open(contact=contact_ or contact(org), queue=queue, channel=channel, **fields)


def message(org) -> Message:
    ch = channel(org, kind=ChannelKind.CONSOLE)
    return services.inbound_message_receive(channel=ch, phone=phone(), body="hello").message


TENANT_ROW_BUILDERS = {
    Tag: tag,
    Contact: contact,
    Channel: channel,
    Conversation: conversation,
    Message: message,
}


from conversations.models import CannedResponse  # noqa: E402  (appended by the inbox)


def canned_response(org, **fields) -> CannedResponse:
    n = next(_seq)
    values = {"shortcut": f"reply-{n}", "title": f"Reply {n}", "body": f"Hello, this is reply {n}."}
    values.update(fields)
    row = CannedResponse(organization=org, **values)
    row.full_clean()
    row.save()
    return row


TENANT_ROW_BUILDERS[CannedResponse] = canned_response
