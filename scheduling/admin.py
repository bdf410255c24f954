"""Tenant-scoped admin for the scheduling app.

Appointments change state only through the services (admin actions); their change form edits
the internal notes alone, and they are neither added nor deleted here (bookings go through
``appointment_book`` so that availability, the plan limit and notifications apply). Customer
notifications and client metrics are read-only records.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from accounts.tenant_admin import TenantScopedAdmin
from scheduling import services
from scheduling.models import (
    Appointment,
    ClientMetrics,
    DateOverride,
    SchedulingSettings,
    Service,
    ServiceCategory,
    TimeOff,
    WorkingHours,
)


@admin.register(SchedulingSettings)
class SchedulingSettingsAdmin(TenantScopedAdmin):
    list_display = [
        "__str__",
        "booking_enabled",
        "minimum_notice_minutes",
        "booking_horizon_days",
        "slot_interval_minutes",
        "reminder_offsets_minutes",
        "organization",
    ]
    list_select_related = ["organization"]


@admin.register(ServiceCategory)
class ServiceCategoryAdmin(TenantScopedAdmin):
    list_display = ["name", "position", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization"]


@admin.register(Service)
class ServiceAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "category",
        "duration_minutes",
        "price",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "is_active",
        "organization",
    ]
    list_filter = ["is_active", "category"]
    search_fields = ["name", "description"]
    list_select_related = ["organization", "category"]
    filter_horizontal = ["providers"]


@admin.register(WorkingHours)
class WorkingHoursAdmin(TenantScopedAdmin):
    list_display = ["provider", "weekday", "start", "end", "organization"]
    list_filter = ["weekday", "provider"]
    list_select_related = ["organization", "provider__user"]


@admin.register(TimeOff)
class TimeOffAdmin(TenantScopedAdmin):
    list_display = ["provider", "start", "end", "reason", "organization"]
    list_filter = ["provider"]
    list_select_related = ["organization", "provider__user"]
    date_hierarchy = "start"


@admin.register(DateOverride)
class DateOverrideAdmin(TenantScopedAdmin):
    list_display = ["provider", "date", "start", "end", "organization"]
    list_filter = ["provider"]
    list_select_related = ["organization", "provider__user"]


def _run(modeladmin, request, queryset, func, done):
    ok, failed = 0, []
    for appointment in queryset:
        try:
            func(appointment=appointment, by=request.user)
            ok += 1
        except services.SchedulingError as error:
            failed.append(f"{appointment}: {error.message}")
    if ok:
        modeladmin.message_user(request, done % {"count": ok}, messages.SUCCESS)
    for message in failed:
        modeladmin.message_user(request, message, messages.ERROR)


@admin.action(description=_("Confirm the selected appointments"))
def confirm_appointments(modeladmin, request, queryset):
    _run(modeladmin, request, queryset, services.appointment_confirm, _("%(count)d appointment(s) confirmed."))


@admin.action(description=_("Cancel the selected appointments"))
def cancel_appointments(modeladmin, request, queryset):
    _run(modeladmin, request, queryset, services.appointment_cancel, _("%(count)d appointment(s) cancelled."))


@admin.action(description=_("Mark the selected appointments completed"))
def complete_appointments(modeladmin, request, queryset):
    _run(modeladmin, request, queryset, services.appointment_complete, _("%(count)d appointment(s) completed."))


@admin.action(description=_("Mark the selected appointments as no-shows"))
def no_show_appointments(modeladmin, request, queryset):
    _run(
        modeladmin,
        request,
        queryset,
        services.appointment_mark_no_show,
        _("%(count)d appointment(s) marked as no-shows."),
    )


@admin.register(Appointment)
class AppointmentAdmin(TenantScopedAdmin):
    list_display = [
        "start",
        "service",
        "provider",
        "customer_name",
        "customer_phone",
        "status",
        "source",
        "organization",
    ]
    list_filter = ["status", "source", "service", "provider"]
    search_fields = ["customer_name", "customer_phone", "customer_email"]
    list_select_related = ["organization", "service", "provider"]
    date_hierarchy = "start"
    actions = [confirm_appointments, cancel_appointments, complete_appointments, no_show_appointments]
    fields = [
        "service",
        "provider",
        "contact",
        "customer_name",
        "customer_phone",
        "customer_email",
        "start",
        "end",
        "occupied_from",
        "occupied_until",
        "status",
        "price",
        "source",
        "notes",
        "internal_notes",
        "cancellation_reason",
        "rescheduled_from",
        "created_at",
        "confirmed_at",
        "cancelled_at",
        "completed_at",
    ]
    readonly_fields = [f for f in fields if f != "internal_notes"]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(TenantScopedAdmin):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ClientMetrics)
class ClientMetricsAdmin(ReadOnlyAdmin):
    list_display = [
        "contact",
        "total_appointments",
        "completed_appointments",
        "cancelled_appointments",
        "no_show_appointments",
        "frequency_score",
        "total_spent",
        "average_ticket",
        "last_appointment_at",
        "organization",
    ]
    search_fields = ["contact__name", "contact__phone"]
    list_select_related = ["organization", "contact"]
