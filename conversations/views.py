"""The WhatsApp Cloud API webhook: Meta's verification handshake and signed notifications.

Answers are JSON with a clear ``error`` for anything refused; nothing a sender posts can cause
a 500. The order of checks matters: the channel (it holds the secret), the size, the
signature over the raw bytes, and only then the JSON. A verified, well-formed body is stored
(``WebhookDelivery``, unique per body) before it is applied, in the same request.
"""

from __future__ import annotations

import hmac
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import ALL_ROLES
from accounts.tenancy import role_required
from conversations import attachments, selectors, services
from conversations.channels import whatsapp

logger = logging.getLogger(__name__)


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def _in_worker_thread(func):
    """Run ``func`` in the thread pool with fresh database connections (as ``database_sync_to_async``).

    Not Django's one thread for sync views: a process handles deliveries in parallel (their time
    is mostly spent waiting on PostgreSQL), and the websockets on the event loop are not held up.
    """

    def call(*args, **kwargs):
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=False)


@csrf_exempt
@require_http_methods(["GET", "POST"])
async def whatsapp_webhook(request, channel_id: str):
    return await _in_worker_thread(_webhook)(request, channel_id)


def _webhook(request, channel_id: str):
    channel = selectors.channel_for_webhook(public_id=channel_id)
    if channel is None:
        return _error(404, "unknown channel: no active WhatsApp channel has this webhook id")
    if request.method == "GET":
        return _verify(request, channel)
    return _receive(request, channel)


def _verify(request, channel) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if mode != "subscribe" or not challenge:
        return _error(400, "expected hub.mode=subscribe with hub.challenge and hub.verify_token")
    if not channel.verify_token or not hmac.compare_digest(token.encode(), channel.verify_token.encode()):
        return _error(403, "hub.verify_token does not match this channel's verify token")
    return HttpResponse(challenge, content_type="text/plain")


def _receive(request, channel) -> JsonResponse:
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "invalid Content-Length header")
    if declared > limit:
        return _error(413, f"body too large: {declared} bytes, the limit is {limit}")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"body too large: the limit is {limit} bytes")
    signature = request.headers.get(whatsapp.SIGNATURE_HEADER)
    if not signature:
        return _error(403, f"missing {whatsapp.SIGNATURE_HEADER} header")
    if not whatsapp.signature_is_valid(body, signature, channel.app_secret):
        return _error(403, f"{whatsapp.SIGNATURE_HEADER} does not match the body signed with this channel's app secret")
    try:
        notification = whatsapp.parse_notification(body)
    except whatsapp.PayloadError as error:
        return _error(400, f"malformed notification: {error}")
    # Stored before anything else happens: from here on the delivery cannot be lost (the relay
    # applies it if this request dies), and a retry of it is recognised by its body.
    inline = settings.WHATSAPP_WEBHOOK_INLINE
    stored = services.webhook_delivery_store(channel=channel, body=body, enqueue=not inline)
    if not inline:
        return JsonResponse({"stored": "new" if stored.created else "duplicate"})
    result = services.webhook_delivery_process(delivery_id=stored.delivery.pk, channel=channel)
    if result is None:  # a retry of a delivery already applied (or being applied right now)
        stored.delivery.refresh_from_db(fields=["result"])
        previous = stored.delivery.result or {}
        ours = [item for item in notification.messages if item.phone_number_id == channel.phone_number_id]
        result = {
            "messages_stored": 0,
            "duplicates": previous.get("messages_stored", 0) + previous.get("duplicates", 0) if previous else len(ours),
            "statuses_applied": 0,
            "ignored": len(notification.messages)
            - len(ours)
            + len(notification.statuses)
            + len(notification.template_events),
        }
        if notification.template_events:
            result["templates_updated"] = 0
        if previous.get("refused"):
            result["refused"] = list(previous["refused"])  # the same answer as the first time
    if result.get("refused"):
        # The well-formed items are stored; the 400 names the others (Meta retries, duplicates are skipped).
        problems = result.pop("refused")
        return JsonResponse(
            {"error": f"malformed notification: {'; '.join(problems[:20])}", "problems": problems[:100], **result},
            status=400,
        )
    return JsonResponse(result)


@require_GET
@role_required(*ALL_ROLES)
def attachment_download(request, message_id: int):
    """A message's stored file, for members of its organization only (404 for anyone else's).

    ``?inline=1`` serves images, stickers, audio and video for the pane's ``<img>``, ``<audio>``
    and ``<video>``; everything else (and any file without it) is a download.
    """
    message = selectors.message_with_attachment_get(organization=request.organization, message_id=message_id)
    if message is None:
        raise Http404
    try:
        handle = message.attachment.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    inline = request.GET.get("inline") == "1" and attachments.shows_inline(message.attachment_content_type)
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=message.attachment_name or "attachment",
        content_type=message.attachment_content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
