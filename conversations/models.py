"""Contacts, channels, conversations and messages (SPEC 4.2).

Writes go through ``conversations.services``; these classes hold data, database constraints
and small derived properties only.
"""

from __future__ import annotations

import uuid

import phonenumbers
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organization, Queue, User, validate_hex_color
from accounts.scoping import TenantManager
from conversations.attachments import attachment_upload_to
from conversations.message_templates import TEMPLATE_NAME_RE, validate_components


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """Return ``value`` in E.164 (``+5511987654321``) or raise ``ValidationError``.

    Numbers without ``+`` are read as international digits (how WhatsApp sends ``wa_id``)
    unless ``default_region`` is given.
    """
    raw = (value or "").strip()
    if not raw:
        raise ValidationError(_("Enter a phone number."), code="phone_required")
    candidate = raw if raw.startswith("+") or default_region else "+" + raw.lstrip("0")
    try:
        parsed = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("“%(value)s” is not a phone number. Use the international format, e.g. +5511987654321."),
            params={"value": raw},
            code="phone_invalid",
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("“%(value)s” is not a valid phone number. Use the international format, e.g. +5511987654321."),
            params={"value": raw},
            code="phone_invalid",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if value and normalize_phone(value) != value:
        raise ValidationError(
            _("Store phone numbers in E.164, e.g. +5511987654321 (got “%(value)s”)."),
            params={"value": value},
            code="phone_not_e164",
        )


def validate_custom_fields(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_("Custom fields must be an object of names to values."), code="custom_fields_type")
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 64:
            raise ValidationError(_("Custom field names must be 1 to 64 characters."), code="custom_fields_key")
        if not isinstance(item, (str, int, float, bool)) and item is not None:
            raise ValidationError(
                _("Custom field “%(key)s” must be text, a number, true/false or empty."),
                params={"key": key},
                code="custom_fields_value",
            )


class Tag(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="tags", verbose_name=_("organization")
    )
    name = models.CharField(_("name"), max_length=50)
    color = models.CharField(_("color"), max_length=7, default="#64748b", validators=[validate_hex_color])

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="conversations_tag_unique_name")]

    def __str__(self):
        return self.name


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    QUALIFIED = "qualified", _("Qualified lead")
    OPPORTUNITY = "opportunity", _("Opportunity")
    CUSTOMER = "customer", _("Customer")
    CHURNED = "churned", _("Churned")


class OptIn(models.TextChoices):
    UNKNOWN = "unknown", _("Not asked")
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")


class ConsentSource(models.TextChoices):
    FORM = "form", _("Form")
    INBOUND_KEYWORD = "inbound_keyword", _("Inbound keyword")
    AGENT = "agent", _("Agent")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    BOOKING = "booking", _("Booking page")


class Contact(models.Model):
    """A customer who writes in. The phone, when present, is E.164 and unique per organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("organization")
    )
    name = models.CharField(_("name"), max_length=150, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=16, blank=True, validators=[validate_e164])
    email = models.EmailField(_("email"), blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts", verbose_name=_("tags"))
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    opt_in = models.CharField(_("messaging consent"), max_length=10, choices=OptIn.choices, default=OptIn.UNKNOWN)
    opt_in_changed_at = models.DateTimeField(_("consent changed at"), null=True, blank=True)
    opt_in_source = models.CharField(_("consent source"), max_length=20, choices=ConsentSource.choices, blank=True)
    marketing_opt_in = models.BooleanField(
        _("marketing consent"),
        default=False,
        help_text=_("Marketing templates (campaigns) need it; utility messages such as reminders do not."),
    )
    marketing_opt_in_changed_at = models.DateTimeField(_("marketing consent changed at"), null=True, blank=True)
    is_blocked = models.BooleanField(
        _("blocked"), default=False, help_text=_("Messages from a blocked contact are stored but not routed.")
    )
    lead_score = models.PositiveSmallIntegerField(
        _("lead score"), default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True, validators=[validate_custom_fields])
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # The name's words, unstemmed (names are not Portuguese or English words), kept by PostgreSQL.
    search_vector = models.GeneratedField(
        expression=SearchVector("name", config="simple"), output_field=SearchVectorField(), db_persist=True
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["name", "phone"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "phone"],
                condition=~Q(phone=""),
                name="conversations_contact_unique_phone",
                violation_error_message=_("A contact with this phone number already exists in this organization."),
            ),
            models.CheckConstraint(
                condition=Q(lead_score__gte=0, lead_score__lte=100), name="conversations_contact_lead_score_range"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "name"], name="conv_contact_org_name"),
            # Inbox search: words of the name (prefixes), the phone's first digits and its last ones.
            GinIndex(fields=["search_vector"], name="conv_contact_search"),
            models.Index(
                fields=["organization", "phone"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="conv_contact_phone_prefix",
            ),
            # The suffix index, ((reverse(phone)) text_pattern_ops), is created by SQL in migration 0005:
            # Django renders an operator class on an expression without the parentheses PostgreSQL needs.
        ]

    def __str__(self):
        return self.name or self.phone or self.email or f"#{self.pk}"

    @property
    def may_receive_messages(self) -> bool:
        return not self.is_blocked and self.opt_in != OptIn.OPTED_OUT

    def clean(self):
        super().clean()
        if self.phone:
            self.phone = normalize_phone(self.phone)
        if not (self.phone or self.email or self.name):
            raise ValidationError(_("Give the contact at least a name, a phone number or an email."))


class ConsentKind(models.TextChoices):
    MESSAGING = "messaging", _("Messaging")
    MARKETING = "marketing", _("Marketing")


class ConsentChange(models.Model):
    """One change of a contact's consent: what, to which value, from which source, by whom, when."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="consent_changes", verbose_name=_("organization")
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="consent_changes", verbose_name=_("contact")
    )
    kind = models.CharField(_("consent"), max_length=10, choices=ConsentKind.choices)
    value = models.CharField(_("value"), max_length=10)
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("changed by")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="conv_consent_contact_idx")]

    def __str__(self):
        return f"{self.contact} · {self.kind} → {self.value} ({self.source})"


def default_opt_out_keywords() -> list[str]:
    return ["STOP", "PARAR", "SAIR", "CANCELAR"]


def default_opt_in_keywords() -> list[str]:
    return ["START", "VOLTAR"]


def validate_keywords(value) -> None:
    if not isinstance(value, list) or not all(isinstance(k, str) and 0 < len(k.strip()) <= 30 for k in value):
        raise ValidationError(_('Give a list of words of 1 to 30 characters, e.g. ["STOP", "PARAR"].'))


class MessagingSettings(models.Model):
    """The organization's messaging rules: consent keywords and their answers."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="messaging_settings", verbose_name=_("organization")
    )
    opt_out_keywords = models.JSONField(
        _("opt-out keywords"),
        default=default_opt_out_keywords,
        validators=[validate_keywords],
        help_text=_("A customer message that is exactly one of these (any case, accents ignored) opts them out."),
    )
    opt_in_keywords = models.JSONField(
        _("opt-in keywords"), default=default_opt_in_keywords, validators=[validate_keywords]
    )
    opt_out_reply = models.TextField(
        _("answer to an opt-out"), blank=True, help_text=_("Empty: the standard answer in the organization's language.")
    )
    opt_in_reply = models.TextField(
        _("answer to an opt-in"), blank=True, help_text=_("Empty: the standard answer in the organization's language.")
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("messaging settings")
        verbose_name_plural = _("messaging settings")

    def __str__(self):
        return str(self.organization)


MESSAGE_BODY_MAX_LENGTH = 4096


class ChannelKind(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp Cloud API")
    CONSOLE = "console", _("Console (development)")


# The longest text one message may carry on each kind of channel (the WhatsApp Cloud API
# refuses text bodies over 4,096 characters); replies over it are refused, never cut.
CHANNEL_TEXT_LIMITS = {ChannelKind.WHATSAPP: 4096, ChannelKind.CONSOLE: 4096}


class Channel(models.Model):
    """A number of the organization on a messaging provider, with its credentials.

    ``public_id`` is what the webhook URL carries (``/webhooks/whatsapp/<public_id>/``).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="channels", verbose_name=_("organization")
    )
    public_id = models.UUIDField(_("webhook id"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=80)
    kind = models.CharField(_("kind"), max_length=20, choices=ChannelKind.choices, default=ChannelKind.WHATSAPP)
    display_phone = models.CharField(_("display phone"), max_length=16, blank=True, validators=[validate_e164])
    phone_number_id = models.CharField(
        _("phone number id"),
        max_length=64,
        blank=True,
        help_text=_("The WhatsApp Business phone number id from Meta's app dashboard."),
    )
    business_account_id = models.CharField(
        _("WhatsApp Business Account id"),
        max_length=64,
        blank=True,
        validators=[RegexValidator(r"^[0-9]+$", _("The WhatsApp Business Account id is a number."))],
        help_text=_("The WABA id from Meta's app dashboard; needed to sync and submit message templates."),
    )
    access_token = models.CharField(_("access token"), max_length=512, blank=True)
    app_secret = models.CharField(
        _("app secret"), max_length=128, blank=True, help_text=_("Signs webhook deliveries (X-Hub-Signature-256).")
    )
    verify_token = models.CharField(
        _("verify token"), max_length=128, blank=True, help_text=_("Answered in Meta's webhook verification.")
    )
    default_queue = models.ForeignKey(
        Queue,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="channels",
        verbose_name=_("default queue"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="conversations_channel_unique_name"),
            models.UniqueConstraint(
                fields=["phone_number_id"],
                condition=~Q(phone_number_id=""),
                name="conversations_channel_unique_phone_number_id",
                violation_error_message=_("Another channel already uses this phone number id."),
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def text_limit(self) -> int:
        return CHANNEL_TEXT_LIMITS.get(self.kind, MESSAGE_BODY_MAX_LENGTH)

    def clean(self):
        super().clean()
        if self.kind == ChannelKind.WHATSAPP:
            missing = [
                str(self._meta.get_field(name).verbose_name)
                for name in ("phone_number_id", "access_token", "app_secret", "verify_token")
                if not getattr(self, name)
            ]
            if missing:
                raise ValidationError(_("A WhatsApp channel needs: %(fields)s.") % {"fields": ", ".join(missing)})
        if (
            self.default_queue_id
            and self.organization_id
            and self.default_queue.organization_id != self.organization_id
        ):
            raise ValidationError({"default_queue": _("The queue belongs to another organization.")})


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    CLOSED = "closed", _("Closed")
    ARCHIVED = "archived", _("Archived")


ACTIVE_STATUSES = (Status.OPEN, Status.PENDING)


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = Case(
    When(priority=Priority.URGENT, then=Value(4)),
    When(priority=Priority.HIGH, then=Value(3)),
    When(priority=Priority.MEDIUM, then=Value(2)),
    default=Value(1),
    output_field=models.SmallIntegerField(),
)


class SlaKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")


class Conversation(models.Model):
    """One thread with a contact on a channel, waiting in a queue or held by an agent.

    SLA due times are computed in business time when the conversation opens (or moves queue or
    reopens). ``*_warning_at`` is when the warning falls due; ``*_warned_at`` / ``*_breached_at``
    record that the event was raised, so each is raised exactly once. Partial indexes cover
    only rows still waiting for their warning or breach, so the sweep reads due rows only.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("organization")
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="conversations", verbose_name=_("contact")
    )
    channel = models.ForeignKey(
        Channel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("channel"),
    )
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations", verbose_name=_("queue")
    )
    assignee = models.ForeignKey(
        Membership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
        verbose_name=_("assigned agent"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(_("priority"), max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    priority_rank = models.GeneratedField(
        expression=PRIORITY_RANK, output_field=models.SmallIntegerField(), db_persist=True
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=False)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("last customer message at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("closed by")
    )
    sla_started_at = models.DateTimeField(_("SLA clock started at"), null=True, blank=True)

    first_response_due_at = models.DateTimeField(_("first response due at"), null=True, blank=True)
    first_response_warning_at = models.DateTimeField(_("first response warning at"), null=True, blank=True)
    first_response_warned_at = models.DateTimeField(_("first response warning raised at"), null=True, blank=True)
    first_response_breached_at = models.DateTimeField(_("first response breach raised at"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due at"), null=True, blank=True)
    resolution_warning_at = models.DateTimeField(_("resolution warning at"), null=True, blank=True)
    resolution_warned_at = models.DateTimeField(_("resolution warning raised at"), null=True, blank=True)
    resolution_breached_at = models.DateTimeField(_("resolution breach raised at"), null=True, blank=True)

    # Snoozed: out of the active list (and its SLA clock paused) until ``snoozed_until``, or until the
    # customer writes when ``snoozed_until`` is empty. ``snoozed_at`` is set while it sleeps.
    snoozed_at = models.DateTimeField(_("snoozed at"), null=True, blank=True)
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    snoozed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("snoozed by")
    )
    labels = models.ManyToManyField(Tag, blank=True, related_name="conversations", verbose_name=_("labels"))

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-id"]
        constraints = [
            # One active conversation per contact and channel: concurrent inbound messages join it.
            models.UniqueConstraint(
                fields=["contact", "channel"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="conversations_one_active_per_contact_channel",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[Status.CLOSED, Status.ARCHIVED]) | Q(closed_at__isnull=False),
                name="conversations_closed_has_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-last_message_at"], name="conv_org_status_last"),
            # The inbox list: newest first within the organization, read in index order.
            models.Index(fields=["organization", "-last_message_at", "-id"], name="conv_org_last_message"),
            models.Index(fields=["assignee", "status"], name="conv_assignee_status"),
            # Retention: closed conversations of an organization, oldest first, to archive.
            models.Index(
                fields=["organization", "closed_at"], name="conv_closed_archive_due", condition=Q(status=Status.CLOSED)
            ),
            # The list under "mine", a queue, "unassigned": newest first, read in index order.
            models.Index(fields=["assignee", "-last_message_at", "-id"], name="conv_assignee_last"),
            models.Index(fields=["queue", "-last_message_at", "-id"], name="conv_queue_last"),
            models.Index(
                fields=["organization", "-last_message_at", "-id"],
                condition=Q(assignee__isnull=True),
                name="conv_org_unassigned_last",
            ),
            # Pulling: oldest, most urgent unassigned open conversation of a queue.
            models.Index(
                "queue",
                models.F("priority_rank").desc(),
                "created_at",
                "id",
                condition=Q(assignee__isnull=True, status=Status.OPEN),
                name="conv_pull_unassigned",
            ),
            # The snooze wake-up job: only sleeping rows with a wake time, read in wake order.
            models.Index(
                fields=["snoozed_until"],
                name="conv_snooze_wake_due",
                condition=Q(snoozed_at__isnull=False, snoozed_until__isnull=False),
            ),
            # SLA sweep: only rows whose warning/breach is still to be raised.
            models.Index(
                fields=["first_response_warning_at"],
                name="conv_sla_fr_warning_due",
                condition=Q(
                    first_response_warned_at__isnull=True,
                    first_response_at__isnull=True,
                    first_response_warning_at__isnull=False,
                    status__in=ACTIVE_STATUSES,
                ),
            ),
            models.Index(
                fields=["first_response_due_at"],
                name="conv_sla_fr_breach_due",
                condition=Q(
                    first_response_breached_at__isnull=True,
                    first_response_at__isnull=True,
                    first_response_due_at__isnull=False,
                    status__in=ACTIVE_STATUSES,
                ),
            ),
            models.Index(
                fields=["resolution_warning_at"],
                name="conv_sla_res_warning_due",
                condition=Q(
                    resolution_warned_at__isnull=True, resolution_warning_at__isnull=False, status__in=ACTIVE_STATUSES
                ),
            ),
            models.Index(
                fields=["resolution_due_at"],
                name="conv_sla_res_breach_due",
                condition=Q(
                    resolution_breached_at__isnull=True, resolution_due_at__isnull=False, status__in=ACTIVE_STATUSES
                ),
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.contact}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def agent_user_id(self) -> int | None:
        return self.assignee.user_id if self.assignee_id else None

    @property
    def is_snoozed(self) -> bool:
        return self.snoozed_at is not None

    @property
    def sla_next(self):
        """The SLA target it races now (``conversations.sla.next_due``), or ``None``."""
        from django.utils import timezone

        from conversations.sla import next_due

        return next_due(self, timezone.now())


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class AuthorType(models.TextChoices):
    CONTACT = "contact", _("Contact")
    AGENT = "agent", _("Agent")
    SYSTEM = "system", _("System")


class MessageKind(models.TextChoices):
    TEXT = "text", _("Text")
    IMAGE = "image", _("Image")
    VIDEO = "video", _("Video")
    AUDIO = "audio", _("Audio")
    DOCUMENT = "document", _("Document")
    STICKER = "sticker", _("Sticker")
    LOCATION = "location", _("Location")
    TEMPLATE = "template", _("WhatsApp template")
    SYSTEM = "system", _("System")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")


# A status update never moves a message backwards (providers deliver them out of order).
DELIVERY_ORDER = {DeliveryStatus.QUEUED: 0, DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2, DeliveryStatus.READ: 3}


class Message(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="messages", verbose_name=_("organization")
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", verbose_name=_("conversation")
    )
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    author_type = models.CharField(_("author"), max_length=10, choices=AuthorType.choices)
    author = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("agent")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=MessageKind.choices, default=MessageKind.TEXT)
    body = models.TextField(_("body"), blank=True)
    # A template message: the Graph API's ``template`` object as sent (name, language, parameters).
    template_payload = models.JSONField(_("template payload"), default=dict, blank=True)
    is_internal_note = models.BooleanField(_("internal note"), default=False)
    attachment = models.FileField(_("attachment"), upload_to=attachment_upload_to, max_length=255, blank=True)
    attachment_name = models.CharField(_("attachment name"), max_length=255, blank=True)
    attachment_content_type = models.CharField(_("attachment type"), max_length=100, blank=True)
    attachment_size = models.PositiveBigIntegerField(_("attachment size (bytes)"), null=True, blank=True)
    provider_media_id = models.TextField(_("provider media id"), blank=True)
    # A shared location as WhatsApp sends it: latitude, longitude and, when given, name, address, url.
    location = models.JSONField(_("location"), default=dict, blank=True)
    delivery_status = models.CharField(
        _("delivery status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    provider_message_id = models.TextField(_("provider message id"), blank=True)
    error = models.TextField(_("delivery error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)
    # The body's words stemmed in Portuguese and in English (either spelling of a search finds it).
    search_vector = models.GeneratedField(
        expression=SearchVector("body", config="portuguese") + SearchVector("body", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        constraints = [
            # Duplicate webhook deliveries of one provider message store it once.
            models.UniqueConstraint(
                fields=["organization", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="conversations_message_unique_provider_id",
            ),
            models.CheckConstraint(
                condition=Q(is_internal_note=False) | Q(direction=Direction.OUTBOUND, author_type=AuthorType.AGENT),
                name="conversations_note_is_outbound_agent",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="conv_message_conv_created"),
            GinIndex(fields=["search_vector"], name="conv_message_search"),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.get_kind_display()} #{self.pk}"

    @property
    def media_pending(self) -> bool:
        """Inbound media still being fetched from the provider (no file yet, no error)."""
        return bool(self.provider_media_id) and not self.attachment and not self.error

    @property
    def map_url(self) -> str:
        """An OpenStreetMap link to a shared location, or the http(s) link WhatsApp gave."""
        location = self.location or {}
        if "latitude" in location and "longitude" in location:
            lat, lon = location["latitude"], location["longitude"]
            return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=16/{lat}/{lon}"
        url = str(location.get("url") or "")
        return url if url.startswith(("https://", "http://")) else ""


class Mention(models.Model):
    """A teammate named with ``@`` in an internal note (``mention_notes_record``): they are notified once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="mentions", verbose_name=_("internal note")
    )
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="mentions", verbose_name=_("mentioned member")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("mention")
        verbose_name_plural = _("mentions")
        constraints = [models.UniqueConstraint(fields=["message", "membership"], name="conversations_mention_once")]
        indexes = [models.Index(fields=["membership", "-created_at"], name="conv_mention_member")]


class CsatStatus(models.TextChoices):
    SENT = "sent", _("Sent, waiting for a rating")
    RATED = "rated", _("Rated, a comment may follow")
    COMPLETED = "completed", _("Completed")
    EXPIRED = "expired", _("Expired without an answer")


CSAT_SCORES = (1, 2, 3, 4, 5)


class CsatSurvey(models.Model):
    """The satisfaction survey a customer gets on WhatsApp when their conversation closes.

    One per conversation (answered once): a list of ratings 1–5, then an optional comment. The
    agent is the one who held the conversation when it closed.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="csat_surveys", verbose_name=_("organization")
    )
    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="csat", verbose_name=_("conversation")
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="csat_surveys")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="csat_surveys")
    agent = models.ForeignKey(
        Membership,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="csat_surveys",
        verbose_name=_("agent"),
    )
    status = models.CharField(_("status"), max_length=10, choices=CsatStatus.choices, default=CsatStatus.SENT)
    score = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("answers accepted until"))

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=1, score__lte=5), name="conversations_csat_score_range"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[CsatStatus.SENT, CsatStatus.EXPIRED]) | Q(score__isnull=False),
                name="conversations_csat_rated_has_score",
            ),
        ]
        indexes = [
            # A customer's open survey on a channel, found when they write after the close.
            models.Index(
                fields=["contact", "channel", "-sent_at"],
                name="conv_csat_open",
                condition=Q(status__in=[CsatStatus.SENT, CsatStatus.RATED]),
            ),
            models.Index(fields=["agent", "-rated_at"], name="conv_csat_agent", condition=Q(score__isnull=False)),
        ]

    def __str__(self):
        return f"CSAT #{self.conversation_id}: {self.score or '—'}"


class CannedResponse(models.Model):
    """A reply agents insert from the inbox by its shortcut (``/greeting``); unique per organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="canned_responses", verbose_name=_("organization")
    )
    shortcut = models.SlugField(
        _("shortcut"), max_length=40, help_text=_("Typed after “/” in the reply box, e.g. greeting.")
    )
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(_("body"), max_length=MESSAGE_BODY_MAX_LENGTH)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("shortcut"),
                name="conversations_canned_unique_shortcut",
                violation_error_message=_("Another canned response of this organization uses this shortcut."),
            )
        ]

    def __str__(self):
        return f"/{self.shortcut} · {self.title}"


class TemplateCategory(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    UTILITY = "utility", _("Utility")
    AUTHENTICATION = "authentication", _("Authentication")


class TemplateStatus(models.TextChoices):
    DRAFT = "draft", _("Draft (not submitted)")
    PENDING = "pending", _("Pending review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    PAUSED = "paused", _("Paused")
    DISABLED = "disabled", _("Disabled")


class TemplateQuality(models.TextChoices):
    GREEN = "green", _("High (green)")
    YELLOW = "yellow", _("Medium (yellow)")
    RED = "red", _("Low (red)")
    UNKNOWN = "unknown", _("Unknown")


class TemplateParameterFormat(models.TextChoices):
    POSITIONAL = "positional", _("Positional ({{1}}, {{2}}…)")
    NAMED = "named", _("Named ({{first_name}}…)")


class WhatsAppTemplate(models.Model):
    """A message template of a WhatsApp channel's business account, as Meta knows it.

    ``components`` is in the Graph API's format (see ``conversations.message_templates``). Rows
    come from syncing (``template_sync``) or are drafted in the admin and submitted
    (``template_submit``); Meta decides the status, applied by the sync and the webhook.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="whatsapp_templates", verbose_name=_("organization")
    )
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        related_name="templates",
        limit_choices_to={"kind": ChannelKind.WHATSAPP},
        verbose_name=_("channel"),
    )
    provider_id = models.CharField(
        _("Meta template id"), max_length=64, blank=True, help_text=_("Set by Meta when the template is submitted.")
    )
    name = models.CharField(
        _("name"),
        max_length=512,
        validators=[
            RegexValidator(
                TEMPLATE_NAME_RE, _("Use lowercase letters, digits and underscores only, e.g. appointment_reminder.")
            )
        ],
    )
    language = models.CharField(
        _("language"),
        max_length=15,
        validators=[RegexValidator(r"^[a-z]{2,3}(_[A-Z]{2})?$", _("Use Meta's language code, e.g. pt_BR or en_US."))],
        help_text=_("Meta's language code, e.g. pt_BR, en_US, es."),
    )
    category = models.CharField(
        _("category"), max_length=20, choices=TemplateCategory.choices, default=TemplateCategory.UTILITY
    )
    parameter_format = models.CharField(
        _("parameter format"),
        max_length=12,
        choices=TemplateParameterFormat.choices,
        default=TemplateParameterFormat.POSITIONAL,
    )
    status = models.CharField(_("status"), max_length=10, choices=TemplateStatus.choices, default=TemplateStatus.DRAFT)
    quality_rating = models.CharField(
        _("quality rating"), max_length=10, choices=TemplateQuality.choices, default=TemplateQuality.UNKNOWN
    )
    rejected_reason = models.CharField(_("reason given by Meta"), max_length=255, blank=True)
    components = models.JSONField(
        _("components"),
        default=list,
        help_text=_(
            "In the Graph API's format: a list of HEADER (optional), BODY, FOOTER (optional) and BUTTONS (optional), "
            "with examples for every variable."
        ),
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("submitted by")
    )
    last_synced_at = models.DateTimeField(_("last synced at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("WhatsApp template")
        verbose_name_plural = _("WhatsApp templates")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "name", "language"],
                name="conversations_template_unique_name_language",
                violation_error_message=_("This channel already has a template with this name and language."),
            ),
            models.UniqueConstraint(
                fields=["channel", "provider_id"],
                condition=~Q(provider_id=""),
                name="conversations_template_unique_provider_id",
            ),
            models.CheckConstraint(
                condition=Q(status__in=TemplateStatus.values), name="conversations_template_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["organization", "channel", "status"], name="conv_template_org_status")]

    def __str__(self):
        return f"{self.name} ({self.language})"

    @property
    def is_approved(self) -> bool:
        return self.status == TemplateStatus.APPROVED

    def clean(self):
        super().clean()
        if self.channel_id:
            if self.organization_id and self.channel.organization_id != self.organization_id:
                raise ValidationError({"channel": _("The channel belongs to another organization.")})
            if self.channel.kind != ChannelKind.WHATSAPP:
                raise ValidationError({"channel": _("Message templates belong to WhatsApp channels only.")})
        try:
            validate_components(self.components, self.parameter_format)
        except ValidationError as error:
            raise ValidationError({"components": error.messages}) from None


class WebhookDelivery(models.Model):
    """A signed WhatsApp webhook delivery, stored as received before it is processed.

    Meta retries a delivery it thinks failed: the body's SHA-256 is unique per channel, so a retry
    finds the stored row instead of adding one. ``processed_at`` is set by the one transaction that
    claims the row (``UPDATE … WHERE processed_at IS NULL``) and applies it: a crash rolls both back,
    and the relay (``webhook_deliveries_relay``, Beat) picks the row up again through a partial
    index of the unprocessed rows.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="webhook_deliveries", verbose_name=_("channel")
    )
    body = models.TextField(_("body"))
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["channel", "body_sha256"], name="webhook_delivery_unique_body"),
        ]
        indexes = [
            models.Index(
                fields=["received_at"], name="webhook_delivery_unprocessed", condition=Q(processed_at__isnull=True)
            ),
        ]

    def __str__(self):
        return f"{self.channel_id}:{self.body_sha256[:12]}"
