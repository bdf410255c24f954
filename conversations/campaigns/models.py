"""Campaigns: bulk WhatsApp template sends to an audience, on the one outbox.

A campaign's audience is frozen into ``CampaignRecipient`` rows when it starts: every contact of the
audience gets a row, ``queued`` or ``excluded`` with its reason, so exclusions stay counted and the
per-recipient list shows them. Each queued row is handed to the outbox once (``enqueued``, with the
outbox row it got); its delivery, read and failure come back onto that outbox row, which the metrics read.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.scoping import TenantManager
from conversations.models import Channel, Contact, Conversation, LifecycleStage, Tag, TemplateCategory, WhatsAppTemplate
from notifications.models import NotificationLog


class CampaignSettings(models.Model):
    """An organization's campaign policy: who may create, and the marketing frequency cap."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="campaign_settings", verbose_name=_("organization")
    )
    agents_may_create = models.BooleanField(
        _("agents may create campaigns"), default=False, help_text=_("Org admins always may; viewers never.")
    )
    frequency_cap_messages = models.PositiveSmallIntegerField(
        _("marketing messages per contact"),
        default=2,
        validators=[MinValueValidator(1)],
        help_text=_("At most this many marketing campaign messages per contact within the period below."),
    )
    frequency_cap_days = models.PositiveSmallIntegerField(
        _("frequency cap period (days)"), default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("campaign settings")
        verbose_name_plural = _("campaign settings")

    def __str__(self):
        return str(self.organization)


class MessagingTier(models.IntegerChoices):
    """WhatsApp's limit of business-initiated conversations per number per rolling 24 hours."""

    TIER_250 = 250, "250"
    TIER_1K = 1000, "1,000"
    TIER_10K = 10_000, "10,000"
    TIER_100K = 100_000, "100,000"
    UNLIMITED = 0, _("unlimited")


class ChannelCampaignSettings(models.Model):
    """Per WhatsApp number: its messaging tier (kept here so the channel model stays the inbox's)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    channel = models.OneToOneField(
        Channel, on_delete=models.CASCADE, related_name="campaign_settings", verbose_name=_("channel")
    )
    messaging_tier = models.PositiveIntegerField(
        _("messaging tier"),
        choices=MessagingTier.choices,
        default=MessagingTier.TIER_1K,
        help_text=_("Business-initiated conversations per 24 hours that Meta allows this number."),
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("number messaging tier")
        verbose_name_plural = _("number messaging tiers")

    def __str__(self):
        return f"{self.channel} · {self.get_messaging_tier_display()}"


class MessagePrice(models.Model):
    """What one template message costs, per category and country calling code (editable table)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    country_code = models.CharField(
        _("country calling code"), max_length=4, help_text=_("Digits only, e.g. 55 for Brazil, 1 for the US.")
    )
    category = models.CharField(_("category"), max_length=20, choices=TemplateCategory.choices)
    price = models.DecimalField(_("price per message"), max_digits=8, decimal_places=4)
    currency = models.CharField(_("currency"), max_length=3, default="USD")

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("message price")
        verbose_name_plural = _("message prices")
        ordering = ["country_code", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "country_code", "category"], name="campaigns_price_unique_code_category"
            ),
            models.CheckConstraint(
                condition=Q(country_code__regex=r"^[0-9]{1,4}$"), name="campaigns_price_code_digits"
            ),
        ]

    def __str__(self):
        return f"+{self.country_code} {self.category}: {self.price} {self.currency}"


class TagMatch(models.TextChoices):
    ANY = "any", _("any of the tags")
    ALL = "all", _("all of the tags")


class Segment(models.Model):
    """A saved contact filter (the contacts page's filters). ``filters`` keys, all optional:

    ``tags`` (tag ids), ``tag_match`` (``any``/``all``), ``lifecycle_stages`` (list), ``consent``
    (``opted_in``/``not_opted_out``/``marketing``/``opted_out``/``unknown``/``blocked``),
    ``last_contact_before`` / ``last_contact_after`` (ISO dates), ``q`` (name, phone or email search),
    ``custom`` (custom field key → value). ``conversations.campaigns.selectors.segment_contacts`` turns
    it into a queryset; the contacts page (``conversations.contacts``) saves and applies them.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    name = models.CharField(_("name"), max_length=100)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="campaigns_segment_unique_name")]

    def __str__(self):
        return self.name


class AudienceType(models.TextChoices):
    ALL = "all", _("All contacts")
    TAGS = "tags", _("Contacts with tags")
    LIST = "list", _("A list of contacts")
    SEGMENT = "segment", _("A saved segment")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


EDITABLE_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
FINISHED_STATUSES = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED)


class Campaign(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="campaigns", verbose_name=_("organization")
    )
    name = models.CharField(_("name"), max_length=120)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("WhatsApp number")
    )
    template = models.ForeignKey(
        WhatsAppTemplate, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("template"), null=True
    )
    variable_mapping = models.JSONField(_("variable mapping"), default=dict, blank=True)
    audience_type = models.CharField(
        _("audience"), max_length=10, choices=AudienceType.choices, default=AudienceType.ALL
    )
    audience_tags = models.ManyToManyField(Tag, blank=True, related_name="+", verbose_name=_("tags"))
    tag_match = models.CharField(_("tag match"), max_length=3, choices=TagMatch.choices, default=TagMatch.ANY)
    audience_contacts = models.ManyToManyField(Contact, blank=True, related_name="+", verbose_name=_("contacts"))
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns", verbose_name=_("segment")
    )
    scheduled_at = models.DateTimeField(_("start at"), null=True, blank=True, help_text=_("Empty: when started."))
    messages_per_minute = models.PositiveIntegerField(
        _("messages per minute"), default=60, help_text=_("0: as fast as the outbox sends.")
    )
    delay_seconds = models.DecimalField(
        _("delay between messages (seconds)"),
        max_digits=6,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
    )
    send_window_start = models.TimeField(_("send from"), null=True, blank=True)
    send_window_end = models.TimeField(
        _("send until"), null=True, blank=True, help_text=_("In the organization's time zone; empty: any time.")
    )
    failure_threshold_percent = models.PositiveSmallIntegerField(
        _("pause above this failure rate (%)"), default=20, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    failure_sample = models.PositiveIntegerField(
        _("failure rate over the first N messages"), default=200, validators=[MinValueValidator(1)]
    )
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    status_reason = models.CharField(_("why"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    audience_frozen_at = models.DateTimeField(_("audience frozen at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Pacing: the next moment the throttle lets a message go, and the wake-up already scheduled.
    next_send_at = models.DateTimeField(null=True, blank=True, editable=False)
    wake_at = models.DateTimeField(null=True, blank=True, editable=False)
    waiting_for = models.CharField(_("waiting for"), max_length=20, blank=True)
    failure_notified = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(send_window_start__isnull=True, send_window_end__isnull=True)
                | Q(send_window_start__isnull=False, send_window_end__isnull=False),
                name="campaigns_campaign_window_both_or_none",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="campaign_org_created"),
            models.Index(
                fields=["status", "scheduled_at"],
                name="campaign_due_idx",
                condition=Q(status__in=["scheduled", "running"]),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_marketing(self) -> bool:
        return self.template is not None and self.template.category == TemplateCategory.MARKETING

    @property
    def interval(self) -> datetime.timedelta:
        """The time between two messages: the slower of the per-minute throttle and the delay."""
        per_minute = 60 / self.messages_per_minute if self.messages_per_minute else 0
        return datetime.timedelta(seconds=max(per_minute, float(self.delay_seconds or 0)))


class RecipientStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    EXCLUDED = "excluded", _("Excluded")
    ENQUEUED = "enqueued", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent")


class ExclusionReason(models.TextChoices):
    OPTED_OUT = "opted_out", _("Opted out")
    NO_MARKETING_CONSENT = "no_marketing_consent", _("No marketing consent")
    BLOCKED = "blocked", _("Blocked")
    INVALID_PHONE = "invalid_phone", _("No valid phone number")
    FREQUENCY_CAP = "frequency_cap", _("Frequency cap reached")
    MISSING_VARIABLES = "missing_variables", _("Template variables missing")
    CANCELLED = "cancelled", _("Campaign cancelled")
    TIER_OR_LIMIT = "plan_limit", _("Monthly message limit reached")


class CampaignRecipient(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, verbose_name=_("organization"))
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="recipients", verbose_name=_("campaign")
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", verbose_name=_("contact"))
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    position = models.PositiveIntegerField(_("position"))
    status = models.CharField(
        _("status"), max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.QUEUED
    )
    reason = models.CharField(_("reason"), max_length=20, choices=ExclusionReason.choices, blank=True)
    log = models.OneToOneField(
        NotificationLog,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaign_recipient",
        verbose_name=_("outbox row"),
    )
    enqueued_at = models.DateTimeField(_("handed to the outbox at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("conversation")
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaigns_recipient_once"),
            models.UniqueConstraint(fields=["campaign", "position"], name="campaigns_recipient_position"),
        ]
        indexes = [
            models.Index(fields=["campaign", "position"], name="campaign_rcpt_queued", condition=Q(status="queued")),
            models.Index(fields=["campaign", "status"], name="campaign_rcpt_status"),
            # Frequency cap and tier: a contact's / a number's recent campaign sends.
            models.Index(
                fields=["contact", "enqueued_at"],
                name="campaign_rcpt_contact_sent",
                condition=Q(enqueued_at__isnull=False),
            ),
            models.Index(fields=["enqueued_at"], name="campaign_rcpt_enqueued", condition=Q(enqueued_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.campaign} → {self.phone or self.contact_id}"


LIFECYCLE_CHOICES = LifecycleStage.choices
