from __future__ import annotations

import uuid
import zoneinfo
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.plans import PLAN_LIMITS, TRIAL_DAYS, Plan, PlanLimits
from accounts.roles import Role
from accounts.scoping import TenantManager, TenantQuerySet


def avatar_upload_to(instance, filename: str) -> str:
    """``avatars/<uuid>.<ext>``: unguessable, and the person's name or email is not in the path."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "img"
    return f"avatars/{uuid.uuid4().hex}.{extension[:5]}"


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("“%(value)s” is not a known time zone (e.g. America/Sao_Paulo)."), params={"value": value}
        )


validate_hex_color = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Enter a color as #RRGGBB, e.g. #2563eb."))


class UserQuerySet(TenantQuerySet):
    pass


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_superuser", False)
        extra_fields.setdefault("is_staff", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_superuser"] = True
        extra_fields["is_staff"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address. Roles live on ``Membership``."""

    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=[("en", "English"), ("pt-br", "Português (Brasil)")], default="pt-br"
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("Leave empty to use the organization's time zone."),
    )
    avatar = models.FileField(_("avatar"), upload_to=avatar_upload_to, max_length=255, blank=True)
    signature = models.TextField(
        _("signature"),
        max_length=300,
        blank=True,
        help_text=_("Appended to your replies to customers (not to internal notes). Leave empty for none."),
    )
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    tenant_path = "memberships__organization"
    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self):
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email.split("@")[0]


def validate_currency(value: str) -> None:
    from babel.numbers import list_currencies

    if value not in list_currencies():
        raise ValidationError(
            _("“%(value)s” is not an ISO 4217 currency code (e.g. BRL, EUR, USD)."), params={"value": value}
        )


def default_trial_end():
    return timezone.now() + timedelta(days=TRIAL_DAYS)


class Organization(models.Model):
    """A tenant. Every row of tenant data points here."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="America/Sao_Paulo", validators=[validate_time_zone]
    )
    locale = models.CharField(
        _("locale"), max_length=10, choices=[("en", "English"), ("pt-br", "Português (Brasil)")], default="pt-br"
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default="BRL",
        validators=[validate_currency],
        help_text=_("ISO 4217 code of the prices shown to staff and customers, e.g. BRL, EUR, USD."),
    )
    plan = models.CharField(_("plan"), max_length=20, choices=Plan.choices, default=Plan.FREE)
    trial_ends_at = models.DateTimeField(_("trial ends at"), default=default_trial_end, null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    archive_closed_after_days = models.PositiveIntegerField(
        _("archive closed conversations after (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Closed conversations with no activity for this many days are archived."),
    )
    outbox_retention_days = models.PositiveIntegerField(
        _("keep notification logs for (days)"),
        default=180,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Finished notification log rows older than this are deleted."),
    )
    audit_retention_days = models.PositiveIntegerField(
        _("keep the audit log for (days)"),
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Audit log entries older than this are deleted."),
    )

    objects = TenantManager()
    tenant_path = "pk"

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def limits(self) -> PlanLimits:
        return PLAN_LIMITS[self.plan]

    @property
    def in_trial(self) -> bool:
        return self.trial_ends_at is not None and self.trial_ends_at > timezone.now()

    @property
    def is_read_only(self) -> bool:
        """A trial that ended without a plan: the organization can be read, not changed.

        ``trial_ends_at`` empty means the organization is on a paid plan (the operator clears it
        when choosing the plan); a date in the past means the trial ran out first.
        """
        return self.trial_ends_at is not None and self.trial_ends_at <= timezone.now()

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessHours(models.Model):
    """One working window of a weekday, in the organization's time zone; a day may have several."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="business_hours", verbose_name=_("organization")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("opens at"))
    end = models.TimeField(_("closes at"))

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("business hours window")
        verbose_name_plural = _("business hours")
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=F("end")), name="accounts_business_hours_start_before_end"),
            models.UniqueConstraint(
                fields=["organization", "weekday", "start"], name="accounts_business_hours_unique_start"
            ),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self):
        if self.start and self.end and self.start >= self.end:
            raise ValidationError({"end": _("The closing time must be after the opening time.")})


class Holiday(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="holidays", verbose_name=_("organization")
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=120)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["organization", "date"], name="accounts_holiday_unique_date")]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.name}"


class Skill(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="skills", verbose_name=_("organization")
    )
    name = models.CharField(_("name"), max_length=60)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        ordering = ["name"]
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="accounts_skill_unique_name")]

    def __str__(self):
        return self.name


class AgentStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class Membership(models.Model):
    """A user's place in one organization: the role, the skills and the agent status there."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("organization")
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    skills = models.ManyToManyField(Skill, blank=True, related_name="memberships", verbose_name=_("skills"))
    status = models.CharField(
        _("agent status"), max_length=10, choices=AgentStatus.choices, default=AgentStatus.OFFLINE
    )
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True)
    created_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organization", "user__email"]
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="accounts_membership_unique_user")]
        indexes = [
            models.Index(fields=["organization", "role", "status"], name="accounts_mem_org_role_status"),
            # The presence sweep reads only agents shown as present, oldest sign of life first.
            models.Index(fields=["last_seen_at"], condition=~Q(status="offline"), name="accounts_mem_present_seen"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()}"


class RoutingStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LOAD_BALANCE = "load_balance", _("Load balance")
    SKILLS_BASED = "skills_based", _("Skills based")
    MANUAL = "manual", _("Manual")


class Department(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="departments", verbose_name=_("organization")
    )
    name = models.CharField(_("name"), max_length=80)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["name"]
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="accounts_department_unique_name")]

    def __str__(self):
        return self.name


class Queue(models.Model):
    """Where conversations wait for agents. SLA targets are in business minutes."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="queues", verbose_name=_("organization")
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="queues", verbose_name=_("department")
    )
    name = models.CharField(_("name"), max_length=80)
    description = models.TextField(_("description"), blank=True)
    color = models.CharField(_("color"), max_length=7, default="#2563eb", validators=[validate_hex_color])
    icon = models.CharField(
        _("icon"), max_length=40, default="inbox", help_text=_("Icon name, e.g. inbox, star, headset.")
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text=_("1 (lowest) to 10 (highest): higher-priority queues are served first when pulling."),
    )
    sla_first_response_minutes = models.PositiveIntegerField(
        _("first response target (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Counted in business hours. Empty: no target."),
    )
    sla_resolution_minutes = models.PositiveIntegerField(
        _("resolution target (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Counted in business hours. Empty: no target."),
    )
    sla_warning_percent = models.PositiveSmallIntegerField(
        _("SLA warning at (%)"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
    )
    routing_strategy = models.CharField(
        _("routing strategy"), max_length=20, choices=RoutingStrategy.choices, default=RoutingStrategy.ROUND_ROBIN
    )
    max_conversations_per_agent = models.PositiveSmallIntegerField(
        _("max conversations per agent"), default=5, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    agents = models.ManyToManyField(Membership, blank=True, related_name="queues", verbose_name=_("agents"))
    required_skills = models.ManyToManyField(
        Skill, blank=True, related_name="queues", verbose_name=_("required skills")
    )
    csat_enabled = models.BooleanField(
        _("satisfaction survey"),
        default=False,
        help_text=_(
            "Send the customer a WhatsApp survey (rating 1–5 and an optional comment) when a conversation closes."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint("department", Lower("name"), name="accounts_queue_unique_name"),
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=10), name="accounts_queue_priority_range"
            ),
            models.CheckConstraint(
                condition=Q(sla_warning_percent__gte=1, sla_warning_percent__lte=99),
                name="accounts_queue_warning_range",
            ),
        ]

    def __str__(self):
        return f"{self.department.name} › {self.name}" if self.department_id else self.name

    def clean(self):
        if self.department_id and self.organization_id and self.department.organization_id != self.organization_id:
            raise ValidationError({"department": _("The department belongs to another organization.")})
        if (
            self.sla_first_response_minutes
            and self.sla_resolution_minutes
            and self.sla_first_response_minutes > self.sla_resolution_minutes
        ):
            raise ValidationError(
                {"sla_resolution_minutes": _("The resolution target cannot be shorter than the first response target.")}
            )


class OrganizationUsage(models.Model):
    """One organization's counters for one calendar month (its first day, in the organization's time zone).

    Written only by ``accounts.limits.usage_increment`` — one ``INSERT … ON CONFLICT DO UPDATE``
    per change, so concurrent writers never lose an update.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="usage", verbose_name=_("organization")
    )
    month = models.DateField(_("month"))
    messages_sent = models.PositiveIntegerField(_("messages sent"), default=0)
    messages_received = models.PositiveIntegerField(_("messages received"), default=0)
    contacts_created = models.PositiveIntegerField(_("contacts created"), default=0)
    appointments_created = models.PositiveIntegerField(_("appointments created"), default=0)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("monthly usage")
        verbose_name_plural = _("monthly usage")
        ordering = ["organization", "-month"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "month"], name="accounts_usage_unique_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="accounts_usage_month_first_day"),
        ]

    def __str__(self):
        return f"{self.organization} · {self.month:%Y-%m}"


class AuditLogEntry(models.Model):
    """Who did what to which object of an organization, with the changed fields (Zulip's RealmAuditLog).

    Written by ``accounts.audit.record`` inside the acting service's transaction, so an action
    and its entry commit or roll back together. ``actor`` is empty for the system.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_log", verbose_name=_("organization")
    )
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("actor")
    )
    action = models.CharField(_("action"), max_length=80)
    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("object type")
    )
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    metadata = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="accounts_audit_org_created"),
            models.Index(fields=["organization", "actor"], name="accounts_audit_org_actor"),
            models.Index(fields=["organization", "action"], name="accounts_audit_org_action"),
            # One object's history (a conversation's SLA timeline).
            models.Index(fields=["content_type", "object_id", "-created_at"], name="accounts_audit_object"),
        ]

    def __str__(self):
        return f"{self.action} · {self.object_repr}"


class APITokenKind(models.TextChoices):
    ORGANIZATION = "organization", _("Organization token")
    PERSONAL = "personal", _("Personal token")


class APIToken(models.Model):
    """A bearer token for the API (``ptk_<prefix>_<secret>``), stored as a SHA-256 hash.

    The whole token is shown once, when it is created (``accounts.services.api_token_create``); only
    its prefix is kept in clear, to find the row. A *personal* token acts as its user with their role
    in the organization; an *organization* token is issued by an org admin for an integration and
    acts on their behalf — it stops working if they stop being an admin there. Both are limited to
    their ``scopes`` ("contacts:read", "conversations:write", … — write includes read).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("organization")
    )
    user = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("acts as"),
        help_text=_("The person the token acts as (for an organization token: the admin who issued it)."),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=APITokenKind.choices, default=APITokenKind.ORGANIZATION)
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    token_hash = models.CharField(_("token hash"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, help_text=_("Empty: never expires."))
    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text=_("Empty: the server's default."),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("revoked by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="accounts_token_org_created")]

    def __str__(self):
        return f"{self.name} (ptk_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())
