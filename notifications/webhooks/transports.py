"""The outbox transport of outbound webhooks: one signed ``POST`` per attempt, logged."""

from __future__ import annotations

import time

import requests
from django.conf import settings
from django.utils import timezone

from notifications.adapters import PermanentDeliveryError
from notifications.transports import transport
from notifications.webhooks import services
from notifications.webhooks.models import WebhookAttempt, WebhookDelivery

EXCERPT = 1000


class WebhookRefused(Exception):
    """The receiver did not answer 2xx: retried on the webhook schedule."""


@transport(services.TRANSPORT)
class WebhookTransport:
    """``payload``: ``{"delivery_id": …}``. Any answer but 2xx is retried (410 Gone disables the
    endpoint); redirects are not followed; each attempt is signed anew (its own timestamp)."""

    def retry_delay(self, retry_count: int) -> float:
        return services.retry_delay(retry_count)

    def send(self, row) -> str:
        delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=row.payload.get("delivery_id")).first()
        if delivery is None:
            raise PermanentDeliveryError("the webhook delivery no longer exists")
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            raise PermanentDeliveryError("the endpoint is disabled")
        refusal = services.target_refusal(endpoint.url)
        if refusal:
            raise PermanentDeliveryError(str(refusal))
        body = services.body_of(delivery)
        now = timezone.now()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PyTake-Webhooks/1",
            **services.signed_headers(endpoint=endpoint, message_id=delivery.message_id, body=body, at=now),
        }
        started = time.monotonic()
        attempt = WebhookAttempt(organization_id=delivery.organization_id, delivery=delivery, at=now)
        try:
            response = requests.post(
                endpoint.url,
                data=body.encode(),
                headers=headers,
                timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            attempt.duration_ms = int((time.monotonic() - started) * 1000)
            attempt.error = f"{type(error).__name__}: {error}"[:2000]
            attempt.save()
            raise WebhookRefused(attempt.error) from error
        attempt.duration_ms = int((time.monotonic() - started) * 1000)
        attempt.status_code = response.status_code
        attempt.response_excerpt = response.text[:EXCERPT].replace("\x00", "")
        attempt.succeeded = 200 <= response.status_code < 300
        attempt.save()
        if attempt.succeeded:
            return f"http-{response.status_code}"
        if response.status_code == 410:
            raise PermanentDeliveryError("HTTP 410 Gone")
        raise WebhookRefused(f"HTTP {response.status_code}")

    def on_outcome(self, row, *, status: str, provider_id: str = "", error: str = "") -> None:
        services.delivery_outcome(row=row, status=status, error=error)
