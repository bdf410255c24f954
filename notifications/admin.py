from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.tenant_admin import TenantScopedAdmin, is_super_admin
from notifications import services
from notifications.models import NotificationLog, NotificationPreference, OrganizationNotificationSettings


@admin.register(OrganizationNotificationSettings)
class OrganizationNotificationSettingsAdmin(TenantScopedAdmin):
    list_display = ["organization", "urgent_bypasses_quiet_hours", "email_rate_limit_per_hour", "email_batch_size"]
    fieldsets = [
        (None, {"fields": ["organization"]}),
        (
            _("Policy"),
            {
                "fields": [
                    "role_channels",
                    "urgent_bypasses_quiet_hours",
                    "email_rate_limit_per_hour",
                    "email_batch_size",
                ]
            },
        ),
        (_("Defaults for new members"), {"fields": NotificationPreference.COPIED_FIELDS}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if is_super_admin(request) else fieldsets[1:]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(TenantScopedAdmin):
    list_display = [
        "user",
        "organization",
        "email_enabled",
        "sms_enabled",
        "whatsapp_enabled",
        "in_app_enabled",
        "quiet_hours_enabled",
        "max_emails_per_hour",
    ]
    list_filter = ["email_enabled", "sms_enabled", "quiet_hours_enabled"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = []


@admin.register(NotificationLog)
class NotificationLogAdmin(TenantScopedAdmin):
    """The audit trail: read-only, filterable, with a resend action (a new row; the original stays)."""

    list_display = [
        "id",
        "created_at",
        "organization",
        "user",
        "event_type",
        "channel",
        "status",
        "reason",
        "retry_count",
        "sent_at",
    ]
    list_filter = ["status", "channel", "event_type", "user", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["recipient", "subject", "user__email", "provider_message_id", "dedupe_key"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "organization"]
    actions = ["resend"]
    readonly_fields = [f.name for f in NotificationLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_view_permission(request):
            actions["resend"] = self.get_action("resend")
        return actions

    @admin.action(description=_("Resend the selected notifications"))
    def resend(self, request, queryset):
        resent = skipped = 0
        for log in queryset.select_related("user"):
            if services.notification_resend(log=log, by=request.user) is None:
                skipped += 1
            else:
                resent += 1
        if resent:
            self.message_user(
                request,
                ngettext("%(n)d notification queued again.", "%(n)d notifications queued again.", resent)
                % {"n": resent},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(n)d notification is still on its way or has no address; not resent.",
                    "%(n)d notifications are still on their way or have no address; not resent.",
                    skipped,
                )
                % {"n": skipped},
                messages.WARNING,
            )
