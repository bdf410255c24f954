"""Tenant-scoped admin for campaigns, segments, number tiers, prices and the campaign policy.

Campaign state changes go through the services, as admin actions (start, pause, resume, cancel);
the change form edits only drafts' descriptive fields, and the frozen recipients are read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.tenant_admin import TenantScopedAdmin
from conversations.campaigns import services
from conversations.campaigns.models import (
    EDITABLE_STATUSES,
    Campaign,
    CampaignRecipient,
    CampaignSettings,
    ChannelCampaignSettings,
    MessagePrice,
    Segment,
)


def _act(action, verb, name):
    def run(modeladmin, request, queryset):
        done = 0
        for campaign in queryset:
            try:
                action(campaign=campaign, by=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                modeladmin.message_user(request, f"{campaign}: {text}", messages.ERROR)
        if done:
            modeladmin.message_user(request, _("%(n)d campaign(s): %(verb)s.") % {"n": done, "verb": verb})

    run.__name__ = name
    return run


start = admin.action(description=_("Start (or schedule) the selected campaigns"))(
    _act(services.campaign_start, _("started"), "start")
)
pause = admin.action(description=_("Pause the selected campaigns"))(_act(services.campaign_pause, _("paused"), "pause"))
resume = admin.action(description=_("Resume the selected campaigns"))(
    _act(services.campaign_resume, _("resumed"), "resume")
)
cancel = admin.action(description=_("Cancel the selected campaigns"))(
    _act(services.campaign_cancel, _("cancelled"), "cancel")
)


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    list_display = ["name", "status", "channel", "template", "audience_type", "scheduled_at", "started_at", "page_link"]
    list_filter = ["status", "audience_type"]
    search_fields = ["name"]
    list_select_related = ["channel", "template"]
    actions = [start, pause, resume, cancel]
    readonly_fields = [
        "status",
        "status_reason",
        "started_at",
        "audience_frozen_at",
        "finished_at",
        "created_by",
        "waiting_for",
    ]
    filter_horizontal = ["audience_tags"]
    raw_id_fields = ["audience_contacts"]

    @admin.display(description=_("page"))
    def page_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("campaigns:detail", args=[obj.pk]), _("progress"))

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status not in EDITABLE_STATUSES:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(TenantScopedAdmin):
    list_display = ["campaign", "position", "contact", "phone", "status", "reason", "sent_at", "replied_at"]
    list_filter = ["status", "reason"]
    search_fields = ["phone", "contact__name"]
    list_select_related = ["campaign", "contact"]
    raw_id_fields = ["contact", "log", "conversation", "campaign"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Segment)
class SegmentAdmin(TenantScopedAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(MessagePrice)
class MessagePriceAdmin(TenantScopedAdmin):
    list_display = ["country_code", "category", "price", "currency"]
    list_filter = ["category"]
    list_editable = ["price", "currency"]


@admin.register(ChannelCampaignSettings)
class ChannelCampaignSettingsAdmin(TenantScopedAdmin):
    list_display = ["channel", "messaging_tier"]


@admin.register(CampaignSettings)
class CampaignSettingsAdmin(TenantScopedAdmin):
    list_display = ["organization", "agents_may_create", "frequency_cap_messages", "frequency_cap_days"]
