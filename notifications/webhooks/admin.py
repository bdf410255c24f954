"""Webhook endpoints and their delivery log in the admin (tenant-scoped): rotate, test, replay."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from accounts.tenant_admin import TenantScopedAdmin, TenantScopedTabularInline, admin_organization
from notifications.webhooks import services
from notifications.webhooks.events import WEBHOOK_EVENTS
from notifications.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=_("events"), choices=[(e, e) for e in WEBHOOK_EVENTS], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["organization", "url", "description", "events", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = EndpointForm
    list_display = ["url", "description", "is_active", "consecutive_failures", "disabled_at", "organization"]
    list_filter = ["is_active", "organization"]
    search_fields = ["url", "description"]
    readonly_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "previous_secret_expires_at"]
    actions = ["rotate_secret", "send_test"]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("url", "description", "events", "is_active")}
        if change:
            saved = services.endpoint_update(endpoint=obj, by=request.user, **data)
        else:
            organization = admin_organization(request) or form.cleaned_data["organization"]
            is_active = data.pop("is_active")
            saved = services.endpoint_create(organization=organization, by=request.user, **data)
            if not is_active:
                saved = services.endpoint_update(endpoint=saved, by=request.user, is_active=False)
            messages.warning(
                request,
                _("The signing secret — copy it now, it is not shown again: %(secret)s") % {"secret": saved.secret},
            )
        obj.pk, obj._state.adding = saved.pk, False

    def save_related(self, request, form, formsets, change):
        pass

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint, by=request.user)

    @admin.action(description=_("Rotate the signing secret (the old one stays valid for the grace period)"))
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated = services.endpoint_rotate_secret(endpoint=endpoint, by=request.user)
            messages.warning(
                request, _("New secret of %(url)s: %(secret)s") % {"url": rotated.url, "secret": rotated.secret}
            )

    @admin.action(description=_("Send a test event"))
    def send_test(self, request, queryset):
        for endpoint in queryset.filter(is_active=True):
            services.endpoint_send_test(endpoint=endpoint, by=request.user)
        messages.success(request, _("Test events queued."))


class AttemptInline(TenantScopedTabularInline):
    model = WebhookAttempt
    fields = ["at", "status_code", "succeeded", "duration_ms", "response_excerpt", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdmin):
    """The delivery log: each event sent to each endpoint, its attempts, and a replay action."""

    list_display = ["created_at", "event_type", "endpoint", "status", "attempts", "last_status_code", "last_attempt_at"]
    list_filter = ["status", "event_type", "endpoint", "organization"]
    list_select_related = ["endpoint"]
    search_fields = ["message_id", "event_type"]
    inlines = [AttemptInline]
    actions = ["replay"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Replay the selected deliveries"))
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("endpoint"):
            if delivery.endpoint.is_active:
                services.delivery_replay(delivery=delivery, by=request.user)
                done += 1
        messages.success(request, _("%(count)d deliveries queued again.") % {"count": done})
