"""The AI assistant: an organization's settings, its providers in order of preference, and one row per call.

API keys are stored encrypted (``conversations.assistant.crypto``); the model keeps only the
ciphertext and the last four characters, which are all a page or the admin ever shows.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.scoping import TenantManager


class AssistantSettings(models.Model):
    """Whether agents get AI help, the month's token budget and redaction of contact data."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="assistant_settings", verbose_name=_("organization")
    )
    enabled = models.BooleanField(
        _("enabled"), default=False, help_text=_("Agents see the AI actions in the inbox only when this is on.")
    )
    monthly_token_budget = models.PositiveIntegerField(
        _("monthly token budget"),
        null=True,
        blank=True,
        help_text=_("Tokens in and out across all providers per month (organization's time zone). Empty: no limit."),
    )
    redact_contact_data = models.BooleanField(
        _("redact phone numbers and emails"),
        default=False,
        help_text=_("Replace phone numbers and email addresses in what is sent to a provider."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("AI settings")
        verbose_name_plural = _("AI settings")

    def __str__(self):
        return str(self.organization)


class ProviderKind(models.TextChoices):
    OPENAI = "openai", _("OpenAI")
    ANTHROPIC = "anthropic", _("Anthropic")


class AssistantProvider(models.Model):
    """One provider account of an organization; ``position`` orders the fallback (lowest first)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="assistant_providers", verbose_name=_("organization")
    )
    kind = models.CharField(_("provider"), max_length=20, choices=ProviderKind.choices)
    position = models.PositiveSmallIntegerField(_("order"), default=1, help_text=_("Lower is tried first."))
    is_active = models.BooleanField(_("active"), default=True)
    model = models.CharField(_("model"), max_length=100, help_text=_("e.g. gpt-4o-mini or claude-3-5-haiku-latest"))
    base_url = models.URLField(
        _("base URL"), blank=True, help_text=_("Only for a compatible gateway; empty uses the provider's own API.")
    )
    api_key_encrypted = models.TextField(_("API key (encrypted)"), editable=False)
    api_key_last4 = models.CharField(_("API key ends with"), max_length=4, editable=False)
    timeout_seconds = models.FloatField(
        _("timeout (seconds)"), default=30, validators=[MinValueValidator(0.1), MaxValueValidator(300)]
    )
    max_output_tokens = models.PositiveIntegerField(
        _("max output tokens"), default=800, validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    max_input_tokens = models.PositiveIntegerField(
        _("max input tokens"),
        default=6000,
        validators=[MinValueValidator(100), MaxValueValidator(1_000_000)],
        help_text=_("Older messages of a conversation are left out beyond this (about 4 characters a token)."),
    )
    price_in = models.DecimalField(
        _("price per million input tokens (USD)"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("From the provider's price list; empty: calls are counted but not priced."),
    )
    price_out = models.DecimalField(
        _("price per million output tokens (USD)"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("AI provider")
        verbose_name_plural = _("AI providers")
        ordering = ["organization", "position", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.model}"

    def cost_of(self, tokens_in: int, tokens_out: int):
        if self.price_in is None and self.price_out is None:
            return None
        million = Decimal(1_000_000)
        return (Decimal(tokens_in) * (self.price_in or 0) + Decimal(tokens_out) * (self.price_out or 0)) / million

    @property
    def masked_key(self) -> str:
        return f"…{self.api_key_last4}" if self.api_key_last4 else ""


class Feature(models.TextChoices):
    SUGGEST = "suggest", _("Reply suggestion")
    SUMMARIZE = "summarize", _("Summary")
    REWRITE = "rewrite", _("Rewrite")
    TEST = "test", _("Connection test")
    OTHER = "other", _("Other")


class Outcome(models.TextChoices):
    OK = "ok", _("answered")
    ERROR = "error", _("failed")
    TIMEOUT = "timeout", _("timed out")


class AssistantCall(models.Model):
    """One request to a provider (each fallback attempt is its own row), for usage and cost."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="assistant_calls", verbose_name=_("organization")
    )
    feature = models.CharField(_("feature"), max_length=20, choices=Feature.choices)
    provider = models.ForeignKey(
        AssistantProvider,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("provider account"),
    )
    provider_kind = models.CharField(_("provider"), max_length=20, choices=ProviderKind.choices)
    model = models.CharField(_("model"), max_length=100)
    tokens_in = models.PositiveIntegerField(_("tokens in"), default=0)
    tokens_out = models.PositiveIntegerField(_("tokens out"), default=0)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    cost = models.DecimalField(
        _("cost (USD)"),
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text=_("At the provider's prices when the call was made; empty when no price was set."),
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    error = models.CharField(_("error"), max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    conversation_id = models.BigIntegerField(_("conversation"), null=True, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("AI call")
        verbose_name_plural = _("AI calls")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="assistant_call_org_created")]

    def __str__(self):
        return f"{self.get_feature_display()} · {self.provider_kind}/{self.model} · {self.get_outcome_display()}"

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out
