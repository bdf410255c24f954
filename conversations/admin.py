"""Tenant-scoped admin for contacts, tags, channels, conversations and messages.

State changes of conversations (assignment, status, priority) go through the services, as
admin actions; the change forms edit only descriptive fields. Channel secrets are never shown:
their inputs start empty and an empty input keeps the stored value.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts import limits
from accounts.tenant_admin import TenantScopedAdmin, TenantScopedTabularInline
from conversations import selectors, services
from conversations.models import (
    Channel,
    ConsentChange,
    Contact,
    Conversation,
    Message,
    MessagingSettings,
    Tag,
    normalize_phone,
)

SECRET_FIELDS = ("access_token", "app_secret", "verify_token")


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ["name", "color", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization"]


def _check_plan_limit(form: forms.ModelForm, resource: str) -> None:
    """An addition over the plan is a form error. The admin saves in the same transaction, so the
    organization row locked here stays locked until the new row is in."""
    if form.instance.pk is None and form.instance.organization_id:
        try:
            limits.plan_limit_check(organization=form.instance.organization, resource=resource)
        except ValidationError as error:
            form.add_error(None, error)


class ContactForm(forms.ModelForm):
    # Wider than the stored E.164 value: people type spaces, dashes and parentheses.
    phone = forms.CharField(
        label=_("phone"), max_length=40, required=False, help_text=_("International format, e.g. +55 11 98765-4321.")
    )

    class Meta:
        model = Contact
        fields = "__all__"

    def clean_phone(self):
        value = self.cleaned_data.get("phone", "").strip()
        return normalize_phone(value) if value else ""

    def _post_clean(self):
        super()._post_clean()
        _check_plan_limit(self, "contacts")


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    form = ContactForm
    list_display = [
        "__str__",
        "phone",
        "email",
        "lifecycle_stage",
        "opt_in",
        "is_blocked",
        "lead_score",
        "last_message_at",
        "organization",
    ]
    list_filter = ["lifecycle_stage", "opt_in", "is_blocked", "tags"]
    search_fields = ["name", "phone", "email"]
    list_select_related = ["organization"]
    filter_horizontal = ["tags"]
    readonly_fields = ["opt_in_changed_at", "last_message_at", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # New contacts go through the service: plan limit, normalization, ``contact.created``.
        created = services.contact_create(
            organization=obj.organization,
            name=obj.name,
            phone=obj.phone,
            email=obj.email,
            lifecycle_stage=obj.lifecycle_stage,
            opt_in=obj.opt_in,
            lead_score=obj.lead_score,
            custom_fields=obj.custom_fields,
        )
        if obj.is_blocked:
            services.contact_set_blocked(contact=created, blocked=True)
        obj.pk = created.pk
        obj._state.adding = False


class ChannelForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = "__all__"
        widgets = {name: forms.PasswordInput(render_value=False) for name in SECRET_FIELDS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            if name in self.fields and self.instance.pk and getattr(self.instance, name):
                self.fields[name].required = False
                self.fields[name].help_text = _("Stored. Leave empty to keep it; type a new value to replace it.")

    def _post_clean(self):
        super()._post_clean()
        _check_plan_limit(self, "channels")

    def clean(self):
        cleaned = super().clean()
        for name in SECRET_FIELDS:
            if name in cleaned and not cleaned[name] and self.instance.pk:
                cleaned[name] = Channel.objects.filter(pk=self.instance.pk).values_list(name, flat=True).first() or ""
                setattr(self.instance, name, cleaned[name])
        return cleaned


@admin.register(Channel)
class ChannelAdmin(TenantScopedAdmin):
    form = ChannelForm
    list_display = [
        "name",
        "kind",
        "display_phone",
        "phone_number_id",
        "default_queue",
        "is_active",
        "webhook_path",
        "organization",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "display_phone", "phone_number_id", "business_account_id"]
    list_select_related = ["organization", "default_queue__department"]
    readonly_fields = ["webhook_path", "created_at"]
    actions = ["sync_templates"]

    @admin.action(description=_("Sync message templates from Meta"))
    def sync_templates(self, request, queryset):
        for channel in queryset.order_by("name"):
            try:
                result = services.template_sync(channel=channel)
            except ValidationError as error:
                self.message_user(request, f"{channel.name}: {' '.join(error.messages)}", messages.ERROR)
                continue
            self.message_user(
                request,
                _(
                    "%(channel)s: %(created)d template(s) added, %(updated)d updated, %(unchanged)d unchanged, "
                    "%(removed)d disabled (no longer at Meta)."
                )
                % {
                    "channel": channel.name,
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "removed": result.removed,
                },
                messages.SUCCESS,
            )

    @admin.display(description=_("webhook URL path"))
    def webhook_path(self, obj):
        if obj.pk is None or obj.kind != "whatsapp":
            return "—"
        return reverse("conversations:whatsapp-webhook", args=[obj.public_id])


class MessageInline(TenantScopedTabularInline):
    model = Message
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["created_at", "direction", "author_type", "author", "kind", "body", "is_internal_note", "delivery_status"]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


@admin.register(Conversation)
class ConversationAdmin(TenantScopedAdmin):
    list_display = [
        "__str__",
        "status",
        "priority",
        "queue",
        "assignee",
        "channel",
        "last_message_at",
        "first_response_due_at",
        "organization",
    ]
    list_filter = ["status", "priority", "queue", "channel"]
    search_fields = ["contact__name", "contact__phone", "subject"]
    list_select_related = ["organization", "contact", "queue__department", "assignee__user", "channel"]
    date_hierarchy = "created_at"
    inlines = [MessageInline]
    fields = [
        "contact",
        "channel",
        "subject",
        "queue",
        "assignee",
        "status",
        "priority",
        "created_at",
        "assigned_at",
        "first_response_at",
        "last_message_at",
        "last_inbound_at",
        "closed_at",
        "closed_by",
        "sla_started_at",
        "first_response_due_at",
        "first_response_warning_at",
        "first_response_warned_at",
        "first_response_breached_at",
        "resolution_due_at",
        "resolution_warning_at",
        "resolution_warned_at",
        "resolution_breached_at",
    ]
    actions = ["close_selected", "reopen_selected", "auto_assign_selected"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form

        class ConversationAddForm(form):
            def clean(self):
                # The status is not in the add form, so Django skips the one-active-per-contact
                # constraint (its condition reads the status): checked here, as a form error.
                cleaned = super().clean()
                contact = cleaned.get("contact")
                if contact is not None and selectors.conversation_active_exists(
                    organization=contact.organization, contact=contact, channel=cleaned.get("channel")
                ):
                    raise ValidationError(
                        _("This contact already has an open conversation on this channel: reopen or use that one."),
                        code="active_exists",
                    )
                return cleaned

        ConversationAddForm.__name__ = form.__name__
        return ConversationAddForm

    def get_readonly_fields(self, request, obj=None):
        editable = {"subject"} if obj is not None else {"contact", "channel", "subject", "queue", "priority"}
        return [name for name in self.fields if name not in editable]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["subject"])
            return
        conversation = services.conversation_open(
            contact=obj.contact, channel=obj.channel, queue=obj.queue, subject=obj.subject, priority=obj.priority
        )
        obj.pk = conversation.pk
        obj.refresh_from_db()

    def _run(self, request, queryset, action, done_message):
        done = 0
        for conversation in queryset:
            try:
                action(conversation)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{conversation}: {' '.join(error.messages)}", messages.WARNING)
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Close selected conversations"))
    def close_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda c: services.conversation_close(conversation=c, by=request.user),
            _("%(count)d closed."),
        )

    @admin.action(description=_("Reopen selected conversations"))
    def reopen_selected(self, request, queryset):
        self._run(
            request,
            queryset,
            lambda c: services.conversation_reopen(conversation=c, by=request.user),
            _("%(count)d reopened."),
        )

    @admin.action(description=_("Assign selected by their queue's strategy"))
    def auto_assign_selected(self, request, queryset):
        self._run(
            request, queryset, lambda c: services.conversation_auto_assign(conversation=c), _("%(count)d routed.")
        )


@admin.register(Message)
class MessageAdmin(TenantScopedAdmin):
    list_display = [
        "__str__",
        "conversation",
        "direction",
        "author_type",
        "kind",
        "delivery_status",
        "is_internal_note",
        "created_at",
        "organization",
    ]
    list_filter = ["direction", "author_type", "kind", "delivery_status", "is_internal_note"]
    search_fields = ["body", "provider_message_id", "conversation__contact__name", "conversation__contact__phone"]
    list_select_related = ["organization", "conversation__contact"]
    raw_id_fields = ["conversation"]
    date_hierarchy = "created_at"

    exclude = ["attachment"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in ("organization", "attachment")] + [
            "attachment_link"
        ]

    @admin.display(description=_("attachment"))
    def attachment_link(self, obj):
        if not obj.attachment:
            return "—"
        url = reverse("conversations:attachment-download", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.attachment_name or url)

    def has_add_permission(self, request):
        # Messages are written by the services (inbox replies, webhooks), never by hand.
        return False


from conversations.models import CannedResponse  # noqa: E402  (appended with the inbox's canned responses)


@admin.register(CannedResponse)
class CannedResponseAdmin(TenantScopedAdmin):
    list_display = ["shortcut", "title", "organization"]
    search_fields = ["shortcut", "title", "body"]
    list_select_related = ["organization"]


from conversations.message_templates import template_preview  # noqa: E402  (appended with the WhatsApp templates)
from conversations.models import TemplateStatus, WhatsAppTemplate  # noqa: E402

TEMPLATE_EDITABLE_FIELDS = ["organization", "channel", "name", "language", "category", "parameter_format", "components"]


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(TenantScopedAdmin):
    """Drafts are edited here and submitted to Meta; once submitted, Meta owns the template (read-only)."""

    list_display = [
        "name",
        "language",
        "category",
        "status",
        "quality_rating",
        "channel",
        "last_synced_at",
        "organization",
    ]
    list_filter = ["channel", "status", "category", "language"]
    search_fields = ["name", "provider_id"]
    list_select_related = ["organization", "channel"]
    fields = [
        *TEMPLATE_EDITABLE_FIELDS,
        "preview",
        "provider_id",
        "status",
        "quality_rating",
        "rejected_reason",
        "submitted_at",
        "submitted_by",
        "last_synced_at",
        "created_at",
        "updated_at",
    ]
    actions = ["submit_selected"]

    def has_change_permission(self, request, obj=None):
        # Meta does not let an approved (or pending…) template be edited freely: drafts change here,
        # and rejected ones may be corrected (components, category) and submitted again.
        if obj is not None and not services.template_is_submittable(obj):
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        editable = TEMPLATE_EDITABLE_FIELDS
        if obj is not None and obj.status == TemplateStatus.REJECTED:
            editable = ["category", "components"]  # what Meta's edit endpoint accepts
        return [name for name in self.fields if name not in editable]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.template_create(
            channel=obj.channel,
            name=obj.name,
            language=obj.language,
            category=obj.category,
            parameter_format=obj.parameter_format,
            components=obj.components,
        )
        obj.pk = created.pk
        obj._state.adding = False

    @admin.display(description=_("preview (with the examples)"))
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        try:
            text = template_preview(template=obj)
        except ValidationError as error:
            return " ".join(error.messages)
        return format_html('<div style="white-space: pre-wrap">{}</div>', text)

    @admin.action(description=_("Submit selected drafts (or corrected rejected templates) to Meta for approval"))
    def submit_selected(self, request, queryset):
        for template in queryset.select_related("channel").order_by("name", "language"):
            try:
                submitted = services.template_submit(template=template, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{template}: {' '.join(error.messages)}", messages.ERROR)
                continue
            self.message_user(
                request,
                _("%(template)s submitted: Meta says %(status)s.")
                % {"template": submitted, "status": submitted.get_status_display()},
                messages.SUCCESS,
            )


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(TenantScopedAdmin):
    """Consent keywords and their answers (one row per organization)."""

    list_display = ["__str__", "opt_out_keywords", "opt_in_keywords"]


@admin.register(ConsentChange)
class ConsentChangeAdmin(TenantScopedAdmin):
    """The consent history: who changed which consent of a contact, from where, when. Read-only."""

    list_display = ["created_at", "contact", "kind", "value", "source", "by", "organization"]
    list_filter = ["kind", "source", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["contact__name", "contact__phone", "note"]
    list_select_related = ["contact", "by", "organization"]
    readonly_fields = ["contact", "kind", "value", "source", "by", "note", "created_at", "organization"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
