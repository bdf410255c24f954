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


def conversation(org, queue=None, channel=None, contact_=None, customer_wrote: bool = True, **fields) -> Conversation:
    """An open conversation; ``customer_wrote`` (the usual case) stamps the customer's last message
    now, so WhatsApp's 24-hour window is open for replies."""
    opened = services.conversation_open(contact=contact_ or contact(org), queue=queue, channel=channel, **fields)
    if customer_wrote:
        from django.utils import timezone

        Conversation.objects.filter(pk=opened.pk).update(last_inbound_at=timezone.now())
        opened.refresh_from_db(fields=["last_inbound_at"])
    return opened


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


def outbox_row(message):
    """The outbox row that carries ``message`` to the customer."""
    from notifications.models import NotificationLog

    return NotificationLog.objects.get(dedupe_key=f"message:{message.pk}")


def deliver(message, *, attempts: int = 1):
    """Run the outbox's claim → send → record for ``message`` up to ``attempts`` times (retries included);
    returns the message as stored afterwards. Only the outbox path sends: this is what the task does."""
    from notifications import services as notification_services
    from notifications.models import Status

    row = outbox_row(message)
    for _ in range(attempts):
        notification_services.notification_deliver(log_id=row.pk)
        row.refresh_from_db()
        if row.status != Status.PENDING:
            break
    message.refresh_from_db()
    return message


from conversations.models import WhatsAppTemplate  # noqa: E402  (appended with the WhatsApp templates)

REMINDER_COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "Lembrete"},
    {
        "type": "BODY",
        "text": "Olá {{1}}, sua consulta é {{2}}. Confirma?",
        "example": {"body_text": [["Ana", "amanhã às 10h"]]},
    },
    {"type": "FOOTER", "text": "Clínica Alpha"},
    {
        "type": "BUTTONS",
        "buttons": [{"type": "QUICK_REPLY", "text": "Confirmar"}, {"type": "QUICK_REPLY", "text": "Cancelar"}],
    },
]


def whatsapp_template(org, channel_=None, **fields) -> WhatsAppTemplate:
    """A draft template (through the service) on a WhatsApp channel of ``org``."""
    values = {"name": f"reminder_{next(_seq)}", "language": "pt_BR", "components": REMINDER_COMPONENTS}
    values.update(fields)
    return services.template_create(channel=channel_ or channel(org), **values)


TENANT_ROW_BUILDERS[WhatsAppTemplate] = whatsapp_template


def approved_template(org, channel_=None, **fields) -> WhatsAppTemplate:
    """A template Meta approved (synced as such), on ``channel_`` (a new WhatsApp channel by default)."""
    template = whatsapp_template(org, channel_, **fields)
    WhatsAppTemplate.objects.filter(pk=template.pk).update(status="approved", provider_id=f"9{next(_seq):09d}")
    template.refresh_from_db()
    return template


def _messaging_settings(org):
    return services.messaging_settings_ensure(organization=org)


def _consent_change(org):
    person = contact(org)
    services.contact_set_opt_in(contact=person, opt_in="opted_in", source="form")
    return person.consent_changes.get()


from conversations.models import ConsentChange, MessagingSettings  # noqa: E402

TENANT_ROW_BUILDERS[MessagingSettings] = _messaging_settings
TENANT_ROW_BUILDERS[ConsentChange] = _consent_change
