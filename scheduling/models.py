"""Scheduling data: services, provider availability, appointments and the client metrics.

The invariant that matters most lives in the database: one provider can never hold two
overlapping appointments (buffers included). ``Appointment``'s exclusion constraint is a GiST
index over ``int8range(provider_id, provider_id, '[]')`` and the occupied time range, both
compared with ``&&`` — range types have GiST support built in, so no contrib extension
(``btree_gist``) is needed and it runs unchanged on the embedded PostgreSQL.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.contrib.postgres.fields.ranges import DateTimeRangeField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, Organization, User, Weekday
from accounts.scoping import TenantManager
from conversations.models import Contact

DEFAULT_REMINDER_OFFSETS = [24 * 60, 60]


def default_reminder_offsets() -> list[int]:
    return list(DEFAULT_REMINDER_OFFSETS)


def validate_reminder_offsets(value) -> None:
    if not isinstance(value, list) or not all(isinstance(v, int) and 1 <= v <= 60 * 24 * 30 for v in value):
        raise ValidationError(_("Give the reminder offsets as a list of minutes between 1 and 43200, e.g. [1440, 60]."))
    if len(set(value)) != len(value) or len(value) > 5:
        raise ValidationError(_("Give at most five different reminder offsets."))


def _customer_template(verbose_name, **extra) -> models.ForeignKey:
    """A scheduling setting naming the WhatsApp template of one kind of customer message."""
    return models.ForeignKey(
        "conversations.WhatsAppTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=verbose_name,
        **extra,
    )


class SchedulingSettings(models.Model):
    """The organization's booking rules (one row per organization, created on first use)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="scheduling_settings", verbose_name=_("organization")
    )
    booking_enabled = models.BooleanField(_("public booking enabled"), default=True)
    minimum_notice_minutes = models.PositiveIntegerField(
        _("minimum notice (minutes)"),
        default=120,
        validators=[MaxValueValidator(60 * 24 * 60)],
        help_text=_("How long before a slot it can still be booked."),
    )
    booking_horizon_days = models.PositiveIntegerField(
        _("booking horizon (days)"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
        help_text=_("How far ahead customers may book."),
    )
    slot_interval_minutes = models.PositiveIntegerField(
        _("slot interval (minutes)"),
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(240)],
    )
    change_notice_minutes = models.PositiveIntegerField(
        _("minimum notice for changes (minutes)"),
        default=240,
        validators=[MaxValueValidator(60 * 24 * 30)],
        help_text=_("Customers cannot cancel or reschedule later than this before the appointment."),
    )
    reminder_offsets_minutes = models.JSONField(
        _("reminder offsets (minutes before)"),
        default=default_reminder_offsets,
        validators=[validate_reminder_offsets],
        help_text=_("A list of minutes, e.g. [1440, 60] for 24 hours and 1 hour before."),
    )
    manage_link_max_age_days = models.PositiveIntegerField(
        _("manage link valid for (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
    )
    # Customer messages on WhatsApp: an approved utility template per kind (else email is used).
    confirmation_template = _customer_template(_("WhatsApp template: confirmation"))
    reminder_template = _customer_template(
        _("WhatsApp template: reminder"),
        help_text=_("Quick-reply buttons named Confirm/Cancel (Confirmar/Cancelar) act on the appointment."),
    )
    cancellation_template = _customer_template(_("WhatsApp template: cancellation"))
    reschedule_template = _customer_template(_("WhatsApp template: reschedule"))
    follow_up_template = _customer_template(_("WhatsApp template: follow-up"))
    whatsapp_variables = models.JSONField(
        _("WhatsApp template variables"),
        default=dict,
        blank=True,
        help_text=_(
            "Per message kind, the template's variables mapped to appointment or contact fields, e.g. "
            '{"reminder": {"body.1": {"source": "appointment", "field": "customer_name"}}}. Empty: variables named '
            "like appointment fields (customer_name, service, starts_at…) or numbered 1 = customer name, "
            "2 = service, 3 = date and time are filled in."
        ),
    )

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("scheduling settings")
        verbose_name_plural = _("scheduling settings")

    def __str__(self):
        return str(_("Scheduling settings of %(org)s") % {"org": self.organization})

    TEMPLATE_FIELDS = {
        "confirmation": "confirmation_template",
        "reminder": "reminder_template",
        "cancellation": "cancellation_template",
        "reschedule": "reschedule_template",
        "follow_up": "follow_up_template",
    }

    def template_for(self, kind: str):
        return getattr(self, self.TEMPLATE_FIELDS[kind])

    def clean(self):
        super().clean()
        from conversations.message_templates import validate_mapping

        errors: dict[str, list] = {}
        for field in self.TEMPLATE_FIELDS.values():
            template = getattr(self, field)
            if template is not None and self.organization_id and template.organization_id != self.organization_id:
                errors.setdefault(field, []).append(_("The template belongs to another organization."))
        variables = self.whatsapp_variables
        if not isinstance(variables, dict):
            errors.setdefault("whatsapp_variables", []).append(_("Give an object of message kinds to mappings."))
        else:
            for kind, mapping in variables.items():
                if kind not in self.TEMPLATE_FIELDS:
                    errors.setdefault("whatsapp_variables", []).append(
                        _("Unknown message kind “%(kind)s” (use: %(kinds)s).")
                        % {"kind": kind, "kinds": ", ".join(self.TEMPLATE_FIELDS)}
                    )
                    continue
                template = getattr(self, self.TEMPLATE_FIELDS[kind])
                if template is None:
                    continue
                try:
                    validate_mapping(template, mapping)
                except ValidationError as error:
                    errors.setdefault("whatsapp_variables", []).extend(
                        f"{kind}: {message}" for message in error.messages
                    )
        if errors:
            raise ValidationError(errors)


class ServiceCategory(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="service_categories", verbose_name=_("organization")
    )
    name = models.CharField(_("name"), max_length=80)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("service category")
        verbose_name_plural = _("service categories")
        ordering = ["position", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="scheduling_category_unique_name")]

    def __str__(self):
        return self.name


class Service(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="services", verbose_name=_("organization")
    )
    category = models.ForeignKey(
        ServiceCategory,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="services",
        verbose_name=_("category"),
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    duration_minutes = models.PositiveIntegerField(
        _("duration (minutes)"), validators=[MinValueValidator(5), MaxValueValidator(12 * 60)]
    )
    price = models.DecimalField(
        _("price"), max_digits=10, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    buffer_before_minutes = models.PositiveIntegerField(
        _("buffer before (minutes)"), default=0, validators=[MaxValueValidator(240)]
    )
    buffer_after_minutes = models.PositiveIntegerField(
        _("buffer after (minutes)"), default=0, validators=[MaxValueValidator(240)]
    )
    providers = models.ManyToManyField(
        Membership,
        blank=True,
        related_name="services",
        verbose_name=_("providers"),
        help_text=_("Members who perform this service. Empty: every member with working hours."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="scheduling_service_unique_name")]

    def __str__(self):
        return self.name

    def clean(self):
        if self.category_id and self.organization_id and self.category.organization_id != self.organization_id:
            raise ValidationError({"category": _("The category belongs to another organization.")})


class WorkingHours(models.Model):
    """One window of a provider's weekday, in the organization's time zone; a day may have several."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="working_hours", verbose_name=_("organization")
    )
    provider = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="working_hours", verbose_name=_("provider")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("starts at"))
    end = models.TimeField(_("ends at"))

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("working hours window")
        verbose_name_plural = _("working hours")
        ordering = ["provider", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=F("end")), name="scheduling_working_hours_start_before_end"),
            models.UniqueConstraint(
                fields=["provider", "weekday", "start"], name="scheduling_working_hours_unique_start"
            ),
        ]

    def __str__(self):
        return f"{self.provider.user} · {self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self):
        if self.start and self.end and self.start >= self.end:
            raise ValidationError({"end": _("The end must be after the start.")})
        if self.provider_id and self.organization_id and self.provider.organization_id != self.organization_id:
            raise ValidationError({"provider": _("The provider belongs to another organization.")})


class TimeOff(models.Model):
    """A provider is away from ``start`` to ``end`` (vacation, appointment, sick leave)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="time_off", verbose_name=_("organization")
    )
    provider = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="time_off", verbose_name=_("provider")
    )
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=120, blank=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("time off")
        verbose_name_plural = _("time off")
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=F("end")), name="scheduling_time_off_start_before_end")
        ]
        indexes = [models.Index(fields=["provider", "end"], name="sched_timeoff_provider_end")]

    def __str__(self):
        return f"{self.provider.user} · {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.start and self.end and self.start >= self.end:
            raise ValidationError({"end": _("The end must be after the start.")})
        if self.provider_id and self.organization_id and self.provider.organization_id != self.organization_id:
            raise ValidationError({"provider": _("The provider belongs to another organization.")})


class DateOverride(models.Model):
    """Replaces a provider's weekly hours on one date: a window, or (no times) a day off."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="date_overrides", verbose_name=_("organization")
    )
    provider = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="date_overrides", verbose_name=_("provider")
    )
    date = models.DateField(_("date"))
    start = models.TimeField(_("starts at"), null=True, blank=True)
    end = models.TimeField(_("ends at"), null=True, blank=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("date override")
        verbose_name_plural = _("date overrides")
        ordering = ["date", "start"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(start__isnull=True, end__isnull=True)
                    | Q(start__isnull=False, end__isnull=False, start__lt=F("end"))
                ),
                name="scheduling_override_window_or_closed",
            ),
        ]

    def __str__(self):
        if self.start is None:
            return f"{self.provider.user} · {self.date:%Y-%m-%d} · {_('day off')}"
        return f"{self.provider.user} · {self.date:%Y-%m-%d} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self):
        if (self.start is None) != (self.end is None):
            raise ValidationError(_("Give both a start and an end, or neither for a day off."))
        if self.start is not None and self.start >= self.end:
            raise ValidationError({"end": _("The end must be after the start.")})
        if self.provider_id and self.organization_id and self.provider.organization_id != self.organization_id:
            raise ValidationError({"provider": _("The provider belongs to another organization.")})


class AppointmentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CONFIRMED = "confirmed", _("Confirmed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


ACTIVE_STATUSES = (AppointmentStatus.PENDING, AppointmentStatus.CONFIRMED)


class AppointmentSource(models.TextChoices):
    PUBLIC = "public", _("Public booking page")
    STAFF = "staff", _("Staff")
    WHATSAPP = "whatsapp", _("WhatsApp")
    ADMIN = "admin", _("Admin")


class Int8Range(Func):
    function = "int8range"
    output_field = models.Field()


class TsTzRange(Func):
    function = "tstzrange"
    output_field = DateTimeRangeField()


class Appointment(models.Model):
    """A booked service. ``start``/``end`` is the service itself; ``occupied_from``/``occupied_until``
    add the service's buffers and is what may not overlap for one provider."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="appointments", verbose_name=_("organization")
    )
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("service")
    )
    provider = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("provider")
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("client")
    )
    customer_name = models.CharField(_("customer name"), max_length=150)
    customer_email = models.EmailField(_("customer email"), blank=True)
    customer_phone = models.CharField(_("customer phone"), max_length=16)
    start = models.DateTimeField(_("starts at"))
    end = models.DateTimeField(_("ends at"))
    occupied_from = models.DateTimeField(_("occupied from"), help_text=_("Start minus the buffer before."))
    occupied_until = models.DateTimeField(_("occupied until"), help_text=_("End plus the buffer after."))
    status = models.CharField(
        _("status"), max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.PENDING
    )
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2, default=0)
    notes = models.TextField(_("notes"), blank=True, help_text=_("From the customer."))
    internal_notes = models.TextField(_("internal notes"), blank=True)
    source = models.CharField(
        _("source"), max_length=12, choices=AppointmentSource.choices, default=AppointmentSource.STAFF
    )
    cancellation_reason = models.CharField(_("cancellation reason"), max_length=255, blank=True)
    rescheduled_from = models.OneToOneField(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rescheduled_to",
        verbose_name=_("rescheduled from"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(condition=Q(start__lt=F("end")), name="scheduling_appointment_start_before_end"),
            models.CheckConstraint(
                condition=Q(occupied_from__lte=F("start"), occupied_until__gte=F("end")),
                name="scheduling_appointment_occupied_covers_service",
            ),
            ExclusionConstraint(
                name="scheduling_appointment_no_overlap",
                index_type="gist",
                expressions=[
                    (Int8Range(F("provider"), F("provider"), Value("[]")), RangeOperators.OVERLAPS),
                    (TsTzRange(F("occupied_from"), F("occupied_until"), Value("[)")), RangeOperators.OVERLAPS),
                ],
                condition=~Q(status="cancelled"),
                violation_error_message=_("This time slot is no longer available."),
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "start"], name="sched_appt_org_start"),
            models.Index(fields=["provider", "occupied_until"], name="sched_appt_provider_until"),
            models.Index(fields=["contact", "start"], name="sched_appt_contact_start"),
        ]

    def __str__(self):
        return f"{self.service} · {self.customer_name} · {self.start:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class NotificationKind(models.TextChoices):
    CONFIRMATION = "confirmation", _("Confirmation")
    REMINDER = "reminder", _("Reminder")
    CANCELLATION = "cancellation", _("Cancellation")
    RESCHEDULE = "reschedule", _("Reschedule")
    FOLLOW_UP = "follow_up", _("Follow-up")


class ReminderOccurrence(models.Model):
    """That the reminder ``offset_minutes`` before an appointment was raised: each one happens once.

    The reminder job inserts this row with ``ON CONFLICT DO NOTHING``; only the run that inserted
    it dispatches ``appointment.reminder`` (whose listeners write the outbox rows), so two
    overlapping runs never remind twice.
    """

    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("appointment")
    )
    offset_minutes = models.PositiveIntegerField(_("minutes before"))
    raised_at = models.DateTimeField(_("raised at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        constraints = [
            models.UniqueConstraint(fields=["appointment", "offset_minutes"], name="scheduling_reminder_once")
        ]

    def __str__(self):
        return f"{self.appointment_id} · {self.offset_minutes} min"


class ClientMetrics(models.Model):
    """The seed's client metrics for one contact, recomputed on every appointment change."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="client_metrics", verbose_name=_("organization")
    )
    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, related_name="client_metrics", verbose_name=_("client")
    )
    total_appointments = models.PositiveIntegerField(_("appointments"), default=0)
    upcoming_appointments = models.PositiveIntegerField(_("upcoming"), default=0)
    completed_appointments = models.PositiveIntegerField(_("completed"), default=0)
    cancelled_appointments = models.PositiveIntegerField(_("cancelled"), default=0)
    no_show_appointments = models.PositiveIntegerField(_("no-shows"), default=0)
    rescheduled_appointments = models.PositiveIntegerField(_("rescheduled"), default=0)
    first_appointment_at = models.DateTimeField(_("first appointment"), null=True, blank=True)
    last_appointment_at = models.DateTimeField(_("last appointment"), null=True, blank=True)
    appointments_this_month = models.PositiveIntegerField(_("this month"), default=0)
    appointments_last_month = models.PositiveIntegerField(_("last month"), default=0)
    frequency_score = models.FloatField(_("frequency score (0–100)"), default=0)
    average_days_between = models.FloatField(_("average days between visits"), null=True, blank=True)
    preferred_services = models.JSONField(_("preferred services"), default=list, blank=True)
    preferred_days = models.JSONField(_("preferred days"), default=list, blank=True)
    preferred_times = models.JSONField(_("preferred times"), default=list, blank=True)
    total_spent = models.DecimalField(_("total spent"), max_digits=12, decimal_places=2, default=0)
    average_ticket = models.DecimalField(_("average ticket"), max_digits=10, decimal_places=2, default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantManager()
    tenant_path = "organization"

    class Meta:
        verbose_name = _("client metrics")
        verbose_name_plural = _("client metrics")
        ordering = ["-last_appointment_at"]

    def __str__(self):
        return str(self.contact)
