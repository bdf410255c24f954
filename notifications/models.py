"""Notification preferences (per user and organization, with organization defaults) and the outbox.

``NotificationLog`` is both the audit trail and PyTake's one outbox: every outbound delivery is a
row of it — staff notifications (``notify()``, one row per recipient × channel, including the
decisions not to send), agent replies and template sends to contacts, appointment messages to
customers, and whatever later apps send. Rows are written inside the caller's transaction; a Celery
task delivers each ``pending`` row after commit through the row's *transport* (see
``notifications/transports.py``), and the relay (Beat) re-queues rows whose task was lost, recovers
rows whose sender died (expired lease) and releases ``deferred`` rows when they come due.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.scoping import TenantManager
from notifications.registry import EVENT_TYPE_CHOICES, LOG_CHANNEL_CHOICES, Channel

LIMIT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(100)]


class PreferenceFields(models.Model):
    """The shape shared by a user's preference and the organization's defaults for new members."""

    email_enabled = models.BooleanField(_("email"), default=True)
    sms_enabled = models.BooleanField(_("SMS"), default=False)
    whatsapp_enabled = models.BooleanField(_("WhatsApp"), default=False)
    websocket_enabled = models.BooleanField(_("live in the browser"), default=True)
    in_app_enabled = models.BooleanField(_("in-app notification center"), default=True)
    quiet_hours_enabled = models.BooleanField(_("quiet hours"), default=False)
    quiet_hours_start = models.TimeField(_("quiet hours start"), default=datetime.time(22, 0))
    quiet_hours_end = models.TimeField(_("quiet hours end"), default=datetime.time(8, 0))
    max_emails_per_hour = models.PositiveSmallIntegerField(
        _("max emails per hour"), default=10, validators=LIMIT_VALIDATORS
    )
    max_sms_per_hour = models.PositiveSmallIntegerField(_("max SMS per hour"), default=5, validators=LIMIT_VALIDATORS)
    # {event type name: bool}; a missing name means the event type's default (registry).
    event_types = models.JSONField(_("event types"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    CHANNEL_FIELDS = {c: f"{c}_enabled" for c in Channel.values}
    COPIED_FIELDS = [
        "email_enabled",
        "sms_enabled",
        "whatsapp_enabled",
        "websocket_enabled",
        "in_app_enabled",
        "quiet_hours_enabled",
        "quiet_hours_start",
        "quiet_hours_end",
        "max_emails_per_hour",
        "max_sms_per_hour",
        "event_types",
    ]

    class Meta:
        abstract = True

    def channel_enabled(self, channel: str) -> bool:
        return bool(getattr(self, self.CHANNEL_FIELDS[channel]))

    def event_enabled(self, event_type) -> bool:
        if not event_type.user_configurable:
            return True
        return bool(self.event_types.get(event_type.name, event_type.default_enabled))

    def clean(self):
        super().clean()
        if self.quiet_hours_start is not None and self.quiet_hours_start == self.quiet_hours_end:
            raise ValidationError({"quiet_hours_end": _("Quiet hours must end at a different time than they start.")})


def default_role_channels() -> dict:
    every = list(Channel.values)
    return {"org_admin": every, "agent": every, "viewer": [Channel.EMAIL, Channel.WEBSOCKET, Channel.IN_APP]}


class OrganizationNotificationSettings(PreferenceFields):
    """One row per organization: defaults for new members' preferences and the delivery policy."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="notification_settings", verbose_name=_("organization")
    )
    # {role: [channels]}: RBAC decides which channels a role may receive at all.
    role_channels = models.JSONField(_("channels allowed per role"), default=default_role_channels)
    urgent_bypasses_quiet_hours = models.BooleanField(
        _("urgent events bypass quiet hours"),
        default=True,
        help_text=_("SLA breaches and other urgent events are sent even inside a member's quiet hours."),
    )
    email_rate_limit_per_hour = models.PositiveIntegerField(
        _("organization email limit per hour"),
        default=100,
        validators=[MinValueValidator(1)],
        help_text=_("Emails over this count in a rolling hour are deferred, not dropped."),
    )
    email_batch_size = models.PositiveIntegerField(
        _("email batch size"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("At most this many deferred emails of the organization are released per relay run."),
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("organization notification settings")
        verbose_name_plural = _("organization notification settings")

    def __str__(self):
        return str(self.organization)

    def allowed_channels(self, role: str) -> set[str]:
        return set(self.role_channels.get(role, []))

    def clean(self):
        super().clean()
        from accounts.roles import Role

        if not isinstance(self.role_channels, dict):
            raise ValidationError({"role_channels": _("Give an object of role: [channels].")})
        for role, channels in self.role_channels.items():
            if role not in Role.values:
                raise ValidationError({"role_channels": _("Unknown role “%(role)s”.") % {"role": role}})
            if not isinstance(channels, list) or not set(channels) <= set(Channel.values):
                raise ValidationError(
                    {
                        "role_channels": _("Channels of %(role)s must be a list of: %(channels)s.")
                        % {"role": role, "channels": ", ".join(Channel.values)}
                    }
                )


class NotificationPreference(PreferenceFields):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notification_preferences", verbose_name=_("organization")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
        verbose_name=_("user"),
    )
    phone_number = models.CharField(
        _("phone for SMS and WhatsApp"),
        max_length=20,
        blank=True,
        help_text=_("International format, e.g. +5511987654321."),
    )
    # Signals of new work in the inbox tab (the browser asks for permission when the person clicks).
    desktop_new_message = models.BooleanField(
        _("desktop notification for a new message in my conversations"), default=True
    )
    desktop_assignment = models.BooleanField(
        _("desktop notification when a conversation is assigned to me"), default=True
    )
    title_counter = models.BooleanField(_("unread counter in the tab title"), default=True)
    sound = models.BooleanField(_("sound for new work"), default=False)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="notifications_pref_unique_user_org")
        ]
        indexes = [models.Index(fields=["organization"], name="notif_pref_org_idx")]

    def __str__(self):
        return f"{self.user} · {self.organization}"


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    DEFERRED = "deferred", _("Deferred")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    BOUNCED = "bounced", _("Bounced")
    SKIPPED = "skipped", _("Not sent")


# Rows still on their way: the relay and the outbox index look only at these.
OPEN_STATUSES = (Status.PENDING, Status.DEFERRED, Status.SENDING)


# Rows that count against hourly limits: on their way out or out.
COUNTED_STATUSES = (Status.PENDING, Status.SENDING, Status.SENT, Status.DELIVERED, Status.READ, Status.BOUNCED)


class NotificationLog(models.Model):
    """One outbound delivery: to a user (staff notification) or to a contact (customer message).

    ``transport`` names the sender registered in ``notifications/transports.py``; empty means the
    channel's own adapter (staff email, SMS, WhatsApp, live, in-app). ``payload`` is what that
    transport needs (e.g. the conversation message id, or a rendered WhatsApp template).
    ``recipient_contact_id`` is the contact a customer message goes to — a plain id, because the
    notifications app sits below conversations and holds no foreign key to it.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="notification_logs", verbose_name=_("organization")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_logs",
        verbose_name=_("user"),
        null=True,
        blank=True,
    )
    recipient_contact_id = models.BigIntegerField(_("recipient contact"), null=True, blank=True)
    event_type = models.CharField(_("type"), max_length=40, choices=EVENT_TYPE_CHOICES)
    channel = models.CharField(_("channel"), max_length=20, choices=LOG_CHANNEL_CHOICES)
    recipient = models.CharField(
        _("recipient"), max_length=255, blank=True, help_text=_("Email address, phone number or channel group.")
    )
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    message = models.TextField(_("message"), blank=True)
    html = models.TextField(_("HTML body"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(
        _("reason"), max_length=40, blank=True, help_text=_("Why the row was not sent or was deferred.")
    )
    error = models.TextField(_("error"), blank=True)
    urgent = models.BooleanField(_("urgent"), default=False)
    scheduled_at = models.DateTimeField(_("scheduled for"), help_text=_("When the row became (or becomes) sendable."))
    enqueued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    lease_until = models.DateTimeField(
        _("sending lease until"),
        null=True,
        blank=True,
        help_text=_("A sending row whose lease ran out lost its worker; the relay sends it again."),
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    retry_count = models.PositiveSmallIntegerField(_("retries"), default=0)
    max_retries = models.PositiveSmallIntegerField(_("max retries"), default=3)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    transport = models.CharField(
        _("transport"), max_length=40, blank=True, help_text=_("The sender of this row; empty: the channel's adapter.")
    )
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    dedupe_key = models.CharField(_("dedupe key"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("notification log")
        verbose_name_plural = _("notification logs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="notifications_log_unique_dedupe_key"),
            models.CheckConstraint(
                condition=Q(retry_count__lte=models.F("max_retries")), name="notifications_log_retries_within_max"
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=True) | Q(recipient_contact_id__isnull=True),
                name="notifications_log_one_recipient_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="notif_log_org_created_idx"),
            models.Index(fields=["user"], name="notif_log_user_idx"),
            models.Index(fields=["status"], name="notif_log_status_idx"),
            models.Index(fields=["created_at"], name="notif_log_created_idx"),
            # Hourly limits: rows of one user and channel in the last rolling hour.
            models.Index(fields=["organization", "user", "channel", "scheduled_at"], name="notif_log_rate_idx"),
            # The relay reads only rows that may need it.
            models.Index(
                fields=["status", "scheduled_at"],
                name="notif_log_outbox_idx",
                condition=Q(status__in=["pending", "deferred", "sending"]),
            ),
            # The notification center: a user's unread in-app rows in one organization.
            models.Index(
                fields=["organization", "user", "-created_at"],
                name="notif_log_inapp_idx",
                condition=Q(channel="in_app"),
            ),
            # A contact's customer messages (history, frequency caps).
            models.Index(
                fields=["organization", "recipient_contact_id", "-created_at"],
                name="notif_log_contact_idx",
                condition=Q(recipient_contact_id__isnull=False),
            ),
            models.Index(
                fields=["provider_message_id"], name="notif_log_provider_id_idx", condition=~Q(provider_message_id="")
            ),
        ]

    def __str__(self):
        to = f"user {self.user_id}" if self.user_id else f"contact {self.recipient_contact_id}"
        return f"#{self.pk} {self.event_type} → {to} ({self.channel}, {self.status})"

    @property
    def message_id_header(self) -> str:
        """The email Message-ID: derived from the row, so a duplicate send is recognisable."""
        return f"<notification-{self.pk}@pytake.notifications>"

    @property
    def is_unread(self) -> bool:
        return self.channel == Channel.IN_APP and self.read_at is None
