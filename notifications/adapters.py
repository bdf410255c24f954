"""Delivery adapters, one per channel: each sends one ``NotificationLog`` row or raises.

``PermanentDeliveryError``: retrying cannot help (no address, not configured, refused
recipient) → the row fails at once. Any other exception is transient → the row is retried with
backoff up to its ``max_retries``. Adapters return the provider's message id (or ``""``).
"""

from __future__ import annotations

import json
import logging
import smtplib
import sys
import threading
import urllib.error
import urllib.request

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from notifications.registry import Channel

logger = logging.getLogger(__name__)


class PermanentDeliveryError(Exception):
    """Retrying will not help; the row fails with this message."""


def user_group_name(*, organization_id: int, user_id: int) -> str:
    """The Channels group of one user in one organization (tenant first)."""
    return f"org-{organization_id}.user-{user_id}"


class EmailAdapter:
    """Email through the configured Django backend: SMTP by default, any anymail ESP by setting.

    The backend connection is kept open per worker thread and reused across tasks (one SMTP
    session for many messages instead of a TCP connect, EHLO and QUIT each). A connection the
    server dropped is reopened once within the same attempt; other errors close it and propagate.
    """

    _local = threading.local()

    @staticmethod
    def _settings_key() -> tuple:
        return (
            settings.EMAIL_BACKEND,
            settings.EMAIL_HOST,
            settings.EMAIL_PORT,
            settings.EMAIL_HOST_USER,
            settings.EMAIL_USE_TLS,
            settings.EMAIL_USE_SSL,
        )

    @classmethod
    def _connection(cls):
        connection = getattr(cls._local, "connection", None)
        if connection is not None and getattr(cls._local, "key", None) != cls._settings_key():
            cls.close()
            connection = None
        if connection is None:
            connection = get_connection(fail_silently=False)
            cls._local.connection, cls._local.key = connection, cls._settings_key()
        return connection

    @classmethod
    def close(cls) -> None:
        connection = getattr(cls._local, "connection", None)
        cls._local.connection = None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                logger.debug("closing the email connection failed", exc_info=True)

    def send(self, log) -> str:
        message = EmailMultiAlternatives(
            subject=log.subject,
            body=log.message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[log.recipient],
            headers={"Message-ID": log.message_id_header, "X-PyTake-Notification": str(log.pk)},
        )
        if log.html:
            message.attach_alternative(log.html, "text/html")
        return self.send_message(message, fallback_id=log.message_id_header)

    def send_message(self, message: EmailMultiAlternatives, *, fallback_id: str) -> str:
        """Send a built email over the kept-open connection; returns the ESP's id (or ``fallback_id``)."""
        try:
            self._send(message)
        except smtplib.SMTPRecipientsRefused as error:
            self.close()
            codes = [code for code, _msg in error.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused: {error.recipients}") from error
            raise
        except Exception:
            self.close()
            raise
        status = getattr(message, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        if isinstance(provider_id, set):
            provider_id = next(iter(provider_id), None)
        return str(provider_id or fallback_id)

    def _send(self, message) -> None:
        connection = self._connection()
        message.connection = connection
        try:
            connection.open()
            sent = message.send(fail_silently=False)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            # The kept-open session went stale (server restarted, idle timeout): one fresh try.
            self.close()
            connection = self._connection()
            message.connection = connection
            connection.open()
            sent = message.send(fail_silently=False)
        if not sent:
            raise RuntimeError("the email backend accepted no message")


class GroupAdapter:
    """Websocket and in-app: a message to the user's Channels group (the open tabs update live)."""

    def send(self, log) -> str:
        layer = get_channel_layer()
        if layer is None:
            raise PermanentDeliveryError("no channel layer configured")
        from notifications import selectors

        payload = {
            "type": "notification.message",
            "id": log.pk,
            "event_type": log.event_type,
            "channel": log.channel,
            "subject": log.subject,
            "message": log.message[:500],
            "urgent": log.urgent,
        }
        if log.channel == Channel.IN_APP:
            payload["unread"] = selectors.unread_count(organization_id=log.organization_id, user_id=log.user_id)
        async_to_sync(layer.group_send)(log.recipient, payload)
        return ""


def _post_json(url: str, body: dict, *, token: str = "", timeout: float = 10) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read()[:500].decode(errors="replace")
        if 400 <= error.code < 500 and error.code not in (408, 429):
            raise PermanentDeliveryError(f"HTTP {error.code}: {detail}") from error
        raise RuntimeError(f"HTTP {error.code}: {detail}") from error
    try:
        return json.loads(raw or b"{}")
    except ValueError as error:
        raise RuntimeError(f"invalid JSON from {url}: {raw[:200]!r}") from error


class WhatsAppAdapter:
    """A text message through the WhatsApp Cloud API (Graph API ``/<phone-number-id>/messages``)."""

    def send(self, log) -> str:
        base = settings.NOTIFICATIONS_WHATSAPP_API_BASE.rstrip("/")
        number_id = settings.NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID
        token = settings.NOTIFICATIONS_WHATSAPP_ACCESS_TOKEN
        if not number_id or not token:
            raise PermanentDeliveryError(
                "WhatsApp is not configured (NOTIFICATIONS_WHATSAPP_PHONE_NUMBER_ID / _ACCESS_TOKEN)"
            )
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": log.recipient.lstrip("+"),
            "type": "text",
            "text": {
                "preview_url": False,
                "body": (f"{log.subject}\n\n{log.message}" if log.subject else log.message)[:4096],
            },
        }
        url = f"{base}/{settings.NOTIFICATIONS_WHATSAPP_API_VERSION}/{number_id}/messages"
        data = _post_json(url, body, token=token, timeout=settings.NOTIFICATIONS_HTTP_TIMEOUT)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as error:
            raise RuntimeError(f"unexpected WhatsApp response: {data!r}") from error


class HttpSmsAdapter:
    """A generic HTTP SMS gateway: POST ``{"to", "text"}`` as JSON, bearer token; reply ``{"id"}``."""

    def send(self, log) -> str:
        url = settings.NOTIFICATIONS_SMS_GATEWAY_URL
        if not url:
            raise PermanentDeliveryError("SMS gateway is not configured (NOTIFICATIONS_SMS_GATEWAY_URL)")
        text = log.subject if log.subject else log.message
        data = _post_json(
            url,
            {"to": log.recipient, "text": text[:480]},
            token=settings.NOTIFICATIONS_SMS_GATEWAY_TOKEN,
            timeout=settings.NOTIFICATIONS_HTTP_TIMEOUT,
        )
        return str(data.get("id", "")) if isinstance(data, dict) else ""


class ConsoleSmsAdapter:
    """Development only (``NOTIFICATIONS_SMS_BACKEND=console``): writes the SMS to stdout, like Django's console email backend."""

    def send(self, log) -> str:
        sys.stdout.write(f"[SMS to {log.recipient}] {log.subject or log.message}\n")
        sys.stdout.flush()
        return ""


def adapter_for(channel: str):
    if channel == Channel.EMAIL:
        return EmailAdapter()
    if channel in (Channel.WEBSOCKET, Channel.IN_APP):
        return GroupAdapter()
    if channel == Channel.WHATSAPP:
        return WhatsAppAdapter()
    if channel == Channel.SMS:
        return ConsoleSmsAdapter() if settings.NOTIFICATIONS_SMS_BACKEND == "console" else HttpSmsAdapter()
    raise PermanentDeliveryError(f"unknown channel {channel!r}")
