"""How the outbox sends what conversations queue: messages of a conversation, and direct WhatsApp sends.

Registered with ``notifications.transports``; the outbox claims the row, calls ``send`` outside any
transaction and records the outcome (``on_outcome`` runs in that same recording transaction).
The outbox owns the one retry policy, so the Graph client is built here without retries of its own:
a transient failure (5xx, 429, timeout) raises to be retried with the outbox's backoff, a refusal
(4xx) is permanent.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

import requests
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.channels import whatsapp
from conversations.models import Channel, ChannelKind, DeliveryStatus, Message, MessageKind
from notifications.adapters import PermanentDeliveryError
from notifications.models import Status
from notifications.transports import transport

logger = logging.getLogger(__name__)


class TransientSendError(Exception):
    """The provider did not answer usefully (5xx, 429, timeout): the outbox retries with backoff."""


_http = threading.local()


def _session() -> requests.Session:
    """One keep-alive HTTP session per thread of each process: a worker's sends reuse their connection to
    the Graph API instead of opening one (and building a ``Session``) per message. Made anew after a fork."""
    if getattr(_http, "pid", None) != os.getpid():
        _http.pid, _http.session = os.getpid(), requests.Session()
    return _http.session


def client_for(channel: Channel) -> whatsapp.WhatsAppClient:
    return whatsapp.WhatsAppClient(
        phone_number_id=channel.phone_number_id, access_token=channel.access_token, retries=0, session=_session()
    )


def _graph_call(func, *args, **kwargs) -> str:
    try:
        return func(*args, **kwargs)
    except whatsapp.SendError as error:
        if error.retryable:
            raise TransientSendError(str(error)) from error
        raise PermanentDeliveryError(str(error)) from error


def message_payload(message: Message, phone: str) -> dict:
    """The Graph ``messages`` body of a text or template message (media is uploaded first)."""
    to = whatsapp.wa_id(phone)
    if message.kind == MessageKind.TEMPLATE:
        return {"to": to, "type": "template", "template": message.template_payload}
    return {"to": to, "type": "text", "text": {"preview_url": False, "body": message.body}}


def send_message(channel: Channel, message: Message, phone: str) -> str:
    """Send one stored outbound message through its channel; returns the provider message id."""
    if channel.kind == ChannelKind.CONSOLE:
        logger.info(
            "[console channel %s] to %s: %s%s",
            channel.name,
            phone,
            message.body,
            f" [{message.attachment_name}]" if message.attachment_name else "",
        )
        return f"console-{uuid.uuid4().hex}"
    client = client_for(channel)
    if message.attachment:
        message.attachment.open("rb")
        try:
            content = message.attachment.read()
        finally:
            message.attachment.close()
        media_id = _graph_call(
            client.upload_media,
            content=content,
            filename=message.attachment_name,
            content_type=message.attachment_content_type,
        )
        return _graph_call(
            client.send_media,
            to=phone,
            kind=message.kind,
            media_id=media_id,
            caption=message.body,
            filename=message.attachment_name,
        )
    return _graph_call(client.send, message_payload(message, phone))


@transport("conversations.message")
class ConversationMessageTransport:
    """An outbound message of a conversation (agent reply, template, automatic reply)."""

    def _message(self, row) -> Message | None:
        return (
            Message.objects.select_related("conversation__contact", "conversation__channel")
            .filter(pk=row.payload.get("message_id"), organization_id=row.organization_id)
            .first()
        )

    def send(self, row) -> str:
        message = self._message(row)
        if message is None:
            raise PermanentDeliveryError(_("The message no longer exists."))
        if message.provider_message_id:
            return message.provider_message_id  # an earlier attempt was recorded on the message
        channel, contact = message.conversation.channel, message.conversation.contact
        if channel is None or not channel.is_active:
            raise PermanentDeliveryError(_("The conversation has no active channel to send through."))
        if not contact.phone:
            raise PermanentDeliveryError(_("The contact has no phone number."))
        if contact.is_blocked:
            raise PermanentDeliveryError(_("The contact is blocked."))
        return send_message(channel, message, contact.phone)

    def on_outcome(self, row, *, status: str, provider_id: str = "", error: str = "") -> None:
        now = timezone.now()
        queued = Message.objects.filter(
            pk=row.payload.get("message_id"), organization_id=row.organization_id, delivery_status=DeliveryStatus.QUEUED
        )
        if status == Status.SENT:
            queued.update(provider_message_id=provider_id, delivery_status=DeliveryStatus.SENT, sent_at=now, error="")
        elif status == Status.FAILED:
            queued.update(delivery_status=DeliveryStatus.FAILED, failed_at=now, error=error[:2000])
        elif status == Status.PENDING:
            queued.update(error=_("Retrying: %(error)s") % {"error": error[:1900]})


@transport("whatsapp.direct")
class DirectWhatsAppTransport:
    """A WhatsApp message to a contact outside any conversation (e.g. an appointment reminder).

    ``payload``: ``channel_id`` and ``message`` (the Graph ``messages`` body without ``to``); the
    phone is the row's recipient. Delivery and read statuses come back through the webhook onto
    the outbox row (``notifications.services.outbox_provider_status``).
    """

    def send(self, row) -> str:
        channel = Channel.objects.filter(
            pk=row.payload.get("channel_id"), organization_id=row.organization_id, is_active=True
        ).first()
        if channel is None:
            raise PermanentDeliveryError(_("The WhatsApp channel of this message is gone or inactive."))
        if not row.recipient:
            raise PermanentDeliveryError(_("The contact has no phone number."))
        body = {**row.payload.get("message", {}), "to": whatsapp.wa_id(row.recipient)}
        if channel.kind == ChannelKind.CONSOLE:
            logger.info("[console channel %s] to %s: %s", channel.name, row.recipient, row.message)
            return f"console-{uuid.uuid4().hex}"
        return _graph_call(client_for(channel).send, body)
