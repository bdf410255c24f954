"""Outbound webhooks: an organization's endpoints, each event's delivery to one, and every attempt.

A ``WebhookDelivery`` is one event for one endpoint; it goes out through the one outbox (a
``NotificationLog`` row with transport ``webhooks.http``), which claims, retries and relays it.
Each HTTP try is a ``WebhookAttempt`` (status code, time, an excerpt of the answer): the log.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.scoping import TenantManager


class WebhookEndpoint(models.Model):
    """A subscription: ``url`` receives the ``events`` named, signed per Standard Webhooks with ``secret``.

    After a rotation the ``previous_secret`` also signs until ``previous_secret_expires_at``, so a
    receiver can switch secrets without losing a delivery. ``consecutive_failures`` counts failed
    attempts since the last success; at ``WEBHOOKS_DISABLE_AFTER_FAILURES`` the endpoint is turned
    off (``disabled_at``, ``disabled_reason``) and the org admins are told.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints", verbose_name=_("organization")
    )
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(_("previous secret valid until"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "is_active"], name="webhooks_endpoint_org_active")]

    def __str__(self):
        return self.url

    def signing_secrets(self, now: datetime.datetime | None = None) -> list[str]:
        """The secrets that sign now: the current one, and the previous one during its grace period."""
        now = now or timezone.now()
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event for one endpoint. ``message_id`` is the ``webhook-id`` header: the same on every
    retry and replay, so a receiver can drop duplicates. ``sequence`` grows per endpoint in the order
    the events were committed (ordering metadata, also in the body)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    event_type = models.CharField(_("event"), max_length=60)
    message_id = models.CharField(_("webhook id"), max_length=64)
    sequence = models.PositiveBigIntegerField(_("sequence"))
    payload = models.JSONField(_("body"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    log = models.OneToOneField(
        "notifications.NotificationLog", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="webhooks_delivery_endpoint"),
            models.Index(fields=["organization", "-id"], name="webhooks_delivery_org"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "sequence"],
                name="webhooks_delivery_unique_sequence",
                condition=Q(replay_of__isnull=True),
            )
        ]

    def __str__(self):
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and what came back."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response_excerpt = models.TextField(_("response body (start)"), blank=True)
    error = models.TextField(_("error"), blank=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["delivery", "-at"], name="webhooks_attempt_delivery")]

    def __str__(self):
        return f"{self.status_code or self.error[:40]} at {self.at:%Y-%m-%d %H:%M:%S}"
