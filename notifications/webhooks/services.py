"""Every write of outbound webhooks: endpoints, secrets, deliveries, outcomes, replays.

A domain event → one ``WebhookDelivery`` per subscribed endpoint, written in the event's
transaction (``listeners.py``) with its outbox row (transport ``webhooks.http``). The outbox claims
and sends it (``transports.py``), retrying on the schedule ``WEBHOOKS_RETRY_SCHEDULE`` (about 27 h,
with jitter); ``delivery_outcome`` keeps the delivery and the endpoint's failure count in step in the
outbox's recording transaction and disables an endpoint that keeps failing, telling the org admins.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import Membership, Organization
from accounts.roles import Role
from notifications.models import NotificationLog, Status
from notifications.services.notify import notify
from notifications.services.outbox import outbox_enqueue
from notifications.webhooks.events import TEST_EVENT, WEBHOOK_EVENTS
from notifications.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.targets import target_refusal  # noqa: F401 (the transport checks through here)

TRANSPORT = "webhooks.http"
ROUTES_TTL = 300
EDITABLE = {"url", "events", "description", "is_active"}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def retry_schedule() -> list[float]:
    return [float(s) * settings.WEBHOOKS_RETRY_SCALE for s in settings.WEBHOOKS_RETRY_SCHEDULE]


def retry_delay(retry_count: int) -> float:
    """Seconds before retry ``retry_count`` (1, 2, …): the schedule's step with ±20 % jitter."""
    schedule = retry_schedule()
    base = schedule[min(retry_count, len(schedule)) - 1]
    return base * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)


# --- Routing: which endpoints want an event (cached, so events of organizations without webhooks cost no query)


def _routes_key(organization_id: int) -> str:
    return f"webhooks:routes:{organization_id}"


def routes_for(organization_id: int) -> frozenset[str]:
    """The event names some active endpoint of the organization subscribes to (cached ``ROUTES_TTL`` s)."""
    found = cache.get(_routes_key(organization_id))
    if found is None:
        names: set[str] = set()
        for events in WebhookEndpoint.objects.filter(organization_id=organization_id, is_active=True).values_list(
            "events", flat=True
        ):
            names.update(events)
        found = sorted(names)
        cache.set(_routes_key(organization_id), found, timeout=ROUTES_TTL)
    return frozenset(found)


def _routes_changed(organization_id: int) -> None:
    cache.delete(_routes_key(organization_id))
    transaction.on_commit(lambda: cache.delete(_routes_key(organization_id)))


# --- Endpoints ---------------------------------------------------------------------------------------


def _clean(url: str, events: list[str]) -> None:
    errors = {}
    refusal = target_refusal(url)
    if refusal:
        errors["url"] = refusal
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown:
        errors["events"] = _("Unknown events: %(events)s.") % {"events": ", ".join(unknown)}
    elif not events:
        errors["events"] = _("Choose at least one event.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def endpoint_create(
    *, organization: Organization, url: str, events: list[str], description: str = "", by=None
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (read it from ``endpoint.secret`` to show it)."""
    _clean(url, events)
    endpoint = WebhookEndpoint(
        organization=organization,
        url=url,
        events=sorted(set(events)),
        description=description.strip(),
        secret=new_secret(),
        created_by=by if by is not None and by.pk else None,
    )
    endpoint.full_clean()
    endpoint.save()
    audit.record(
        organization=organization,
        actor=by,
        action="webhook_endpoint.created",
        obj=endpoint,
        metadata={"events": endpoint.events},
    )
    _routes_changed(organization.pk)
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, by=None, **fields) -> WebhookEndpoint:
    """Change the named fields; turning an endpoint on again clears its failure count."""
    unknown = set(fields) - EDITABLE
    if unknown:
        raise ValidationError(_("These fields cannot be changed: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = audit.stored(endpoint, fields)
    if "events" in fields:
        fields["events"] = sorted(set(fields["events"]))
    _clean(fields.get("url", endpoint.url), fields.get("events", endpoint.events))
    if fields.get("is_active") and not endpoint.is_active:
        endpoint.consecutive_failures, endpoint.disabled_at, endpoint.disabled_reason = 0, None, ""
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    endpoint.save()
    changes = audit.diff(before, audit.snapshot(endpoint, list(before)))
    if changes:
        audit.record(
            organization=endpoint.organization_id,
            actor=by,
            action="webhook_endpoint.updated",
            obj=endpoint,
            changes=changes,
        )
    _routes_changed(endpoint.organization_id)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, by=None) -> None:
    audit.record(organization=endpoint.organization_id, actor=by, action="webhook_endpoint.deleted", obj=endpoint)
    organization_id = endpoint.organization_id
    endpoint.delete()
    _routes_changed(organization_id)


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, by=None, grace_hours: int | None = None) -> WebhookEndpoint:
    """A new secret; the old one keeps signing (both signatures are sent) for ``grace_hours``."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    hours = settings.WEBHOOKS_SECRET_GRACE_HOURS if grace_hours is None else grace_hours
    if not 0 <= hours <= 24 * 7:
        raise ValidationError({"grace_hours": _("Give 0 to 168 hours.")})
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + datetime.timedelta(hours=hours) if hours else None
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    audit.record(
        organization=endpoint.organization_id,
        actor=by,
        action="webhook_endpoint.secret_rotated",
        obj=endpoint,
        metadata={"grace_hours": hours},
    )
    return endpoint


# --- Deliveries --------------------------------------------------------------------------------------


def _next_sequence() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('webhooks_event_sequence')")
        return cursor.fetchone()[0]


def _enqueue(delivery: WebhookDelivery) -> None:
    row, _created = outbox_enqueue(
        organization=delivery.endpoint.organization,
        event_type="webhook",
        channel="webhook",
        recipient=delivery.endpoint.url,
        transport=TRANSPORT,
        payload={"delivery_id": delivery.pk},
        subject=delivery.event_type,
        metadata={"webhook_endpoint_id": delivery.endpoint_id, "webhook_delivery_id": delivery.pk},
        dedupe_key=f"webhook:{delivery.pk}",
        max_retries=len(retry_schedule()),
    )
    delivery.log = row
    delivery.save(update_fields=["log"])


def deliveries_create(
    *, organization_id: int, event_type: str, data: dict, endpoints: list[WebhookEndpoint] | None = None
) -> list[WebhookDelivery]:
    """One delivery (and outbox row) per active endpoint subscribed to ``event_type``; inside the event's
    transaction. The body is Standard Webhooks' ``{type, timestamp, data}`` plus ``sequence`` (one per
    event, growing in dispatch order) and ``organization_id``."""
    if endpoints is None:
        endpoints = [
            e
            for e in WebhookEndpoint.objects.select_related("organization").filter(
                organization_id=organization_id, is_active=True
            )
            if event_type in e.events
        ]
    if not endpoints:
        return []
    sequence = _next_sequence()
    body = {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "sequence": sequence,
        "organization_id": organization_id,
        "data": data,
    }
    message_id = f"msg_{uuid.uuid4().hex}"
    created = []
    for endpoint in endpoints:
        delivery = WebhookDelivery.objects.create(
            organization_id=organization_id,
            endpoint=endpoint,
            event_type=event_type,
            message_id=message_id,
            sequence=sequence,
            payload=body,
        )
        _enqueue(delivery)
        created.append(delivery)
    return created


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, by=None) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint alone (even if inactive it is refused: turn it on first)."""
    if not endpoint.is_active:
        raise ValidationError(_("Turn the endpoint on before sending it a test event."), code="inactive")
    data = {"message": "This is a test event from PyTake.", "by_user_id": getattr(by, "pk", None)}
    return deliveries_create(
        organization_id=endpoint.organization_id, event_type=TEST_EVENT, data=data, endpoints=[endpoint]
    )[0]


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, by=None) -> WebhookDelivery:
    """Send a delivery again, as it was (same ``webhook-id``, body and sequence): a new delivery row."""
    endpoint = WebhookEndpoint.objects.select_related("organization").get(pk=delivery.endpoint_id)
    if not endpoint.is_active:
        raise ValidationError(_("The endpoint is disabled: turn it on before replaying."), code="inactive")
    original = delivery.replay_of or delivery
    replay = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        endpoint=endpoint,
        event_type=delivery.event_type,
        message_id=delivery.message_id,
        sequence=delivery.sequence,
        payload=delivery.payload,
        replay_of=original,
    )
    _enqueue(replay)
    audit.record(
        organization=delivery.organization_id,
        actor=by,
        action="webhook_delivery.replayed",
        obj=replay,
        metadata={"replay_of": original.pk},
    )
    return replay


def delivery_outcome(*, row: NotificationLog, status: str, error: str = "") -> None:
    """The outbox recorded an attempt of ``row`` (inside its transaction): update the delivery and the
    endpoint; disable the endpoint at ``WEBHOOKS_DISABLE_AFTER_FAILURES`` consecutive failed attempts."""
    delivery = (
        WebhookDelivery.objects.select_for_update()
        .select_related("endpoint", "endpoint__organization")
        .filter(pk=row.payload.get("delivery_id"))
        .first()
    )
    if delivery is None:
        return
    last = delivery.attempt_log.order_by("-at", "-id").first()
    now = timezone.now()
    delivery.attempts = delivery.attempt_log.count()
    delivery.last_attempt_at = last.at if last else now
    delivery.last_status_code = last.status_code if last else None
    delivery.last_error = error[:2000]
    if status == Status.SENT:
        delivery.status, delivery.next_attempt_at, delivery.last_error = DeliveryStatus.SUCCEEDED, None, ""
    elif status == Status.PENDING:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = (
            NotificationLog.objects.filter(pk=row.pk).values_list("enqueued_at", flat=True).first()
        )
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    delivery.save(
        update_fields=["attempts", "last_attempt_at", "last_status_code", "last_error", "status", "next_attempt_at"]
    )
    endpoint = delivery.endpoint
    if status == Status.SENT:
        if endpoint.consecutive_failures:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return
    if last is None or not endpoint.is_active:
        return  # refused before any request (endpoint off, target refused): not the receiver's failure
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    endpoint.refresh_from_db(fields=["consecutive_failures", "is_active"])
    gone = last.status_code == 410
    if endpoint.is_active and (gone or endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES):
        reason = (
            _("The receiver answered 410 Gone.")
            if gone
            else _("%(count)d consecutive failed attempts (last: %(error)s).")
            % {"count": endpoint.consecutive_failures, "error": error[:200] or last.status_code}
        )
        endpoint_disable(endpoint=endpoint, reason=reason)


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """Turn the endpoint off and tell the organization's admins (in the caller's transaction)."""
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:255], updated_at=timezone.now()
    )
    if not updated:
        return
    _routes_changed(endpoint.organization_id)
    audit.record(
        organization=endpoint.organization_id,
        actor=None,
        action="webhook_endpoint.disabled",
        obj=endpoint,
        metadata={"reason": reason[:255]},
    )
    admins = [
        m.user
        for m in Membership.objects.for_organization(endpoint.organization)
        .filter(role=Role.ORG_ADMIN, user__is_active=True)
        .select_related("user")
    ]
    notify(
        organization=endpoint.organization,
        event_type="webhook_disabled",
        recipients=admins,
        context={"url": endpoint.url, "reason": reason},
        urgent=True,
        dedupe_key=f"webhook_disabled:endpoint-{endpoint.pk}:{timezone.now():%Y%m%d%H%M%S%f}",
        metadata={"webhook_endpoint_id": endpoint.pk},
    )


def signed_headers(*, endpoint: WebhookEndpoint, message_id: str, body: str, at: datetime.datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one ``v1,`` signature per secret that signs now."""
    from standardwebhooks.webhooks import Webhook

    at = at.astimezone(datetime.UTC)
    signatures = [Webhook(secret).sign(message_id, at, body) for secret in endpoint.signing_secrets(at)]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def body_of(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
