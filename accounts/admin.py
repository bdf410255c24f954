from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import limits, services
from accounts.models import (
    APIToken,
    AuditLogEntry,
    BusinessHours,
    Department,
    Holiday,
    Membership,
    Organization,
    Queue,
    Skill,
    User,
)
from accounts.roles import Role
from accounts.tenant_admin import (
    TenantScopedAdmin,
    TenantScopedTabularInline,
    admin_organization,
    is_super_admin,
)
from pytake.api.principal import SCOPES


class BusinessHoursInline(TenantScopedTabularInline, admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(TenantScopedTabularInline, admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(TenantScopedAdmin):
    list_display = ["name", "slug", "plan", "time_zone", "locale", "trial_ends_at", "is_active"]
    list_filter = ["plan", "is_active", "locale"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [BusinessHoursInline, HolidayInline]

    def get_readonly_fields(self, request, obj=None):
        if is_super_admin(request):
            return []
        # Billing and identity are the operator's; org admins edit the rest.
        return ["slug", "plan", "trial_ends_at", "is_active"]

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if is_super_admin(request) else {}

    def has_add_permission(self, request):
        return is_super_admin(request)

    def has_delete_permission(self, request, obj=None):
        return is_super_admin(request)


class QueueInline(TenantScopedTabularInline, admin.TabularInline):
    model = Queue
    extra = 0
    fields = [
        "name",
        "priority",
        "routing_strategy",
        "sla_first_response_minutes",
        "sla_resolution_minutes",
        "is_active",
    ]
    show_change_link = True


@admin.register(Department)
class DepartmentAdmin(TenantScopedAdmin):
    list_display = ["name", "organization", "is_active", "created_at"]
    list_filter = ["is_active", "organization"]
    search_fields = ["name", "description"]
    inlines = [QueueInline]


@admin.register(Queue)
class QueueAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "department",
        "organization",
        "priority",
        "routing_strategy",
        "sla_first_response_minutes",
        "sla_resolution_minutes",
        "max_conversations_per_agent",
        "is_active",
    ]
    list_filter = ["routing_strategy", "is_active", "department", "organization"]
    list_select_related = ["department", "organization"]
    search_fields = ["name", "description", "department__name"]
    autocomplete_fields = ["department"]
    filter_horizontal = ["agents", "required_skills"]
    fieldsets = [
        (
            None,
            {"fields": ["organization", "department", "name", "description", "color", "icon", "priority", "is_active"]},
        ),
        (_("Routing"), {"fields": ["routing_strategy", "max_conversations_per_agent", "agents", "required_skills"]}),
        (
            _("SLA (business hours)"),
            {"fields": ["sla_first_response_minutes", "sla_resolution_minutes", "sla_warning_percent"]},
        ),
        (_("Satisfaction survey"), {"fields": ["csat_enabled"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if admin_organization(request) is None:
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "organization"]}) for name, opts in fieldsets
        ]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "agents":
            kwargs["queryset"] = Membership.objects.exclude(role=Role.VIEWER).select_related("user", "organization")
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Skill)
class SkillAdmin(TenantScopedAdmin):
    list_display = ["name", "organization"]
    list_filter = ["organization"]
    search_fields = ["name"]


class MembershipForm(forms.ModelForm):
    """Checks the plan's user limit when a membership is added."""

    class Meta:
        model = Membership
        fields = "__all__"

    def _post_clean(self):
        super()._post_clean()
        if self.instance.pk is None and self.instance.organization_id:
            try:
                limits.plan_limit_check(organization=self.instance.organization, resource="users")
            except ValidationError as error:
                self.add_error(None, error)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role", "status", "last_seen_at", "created_at"]
    list_filter = ["role", "status", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["skills"]
    readonly_fields = ["status_changed_at", "last_seen_at"]


class MembershipInline(TenantScopedTabularInline, admin.TabularInline):
    model = Membership
    form = MembershipForm
    fk_name = "user"
    extra = 0
    fields = ["organization", "role", "status", "skills"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return [f for f in fields if f != "organization"] if admin_organization(request) is not None else fields


class OrgUserCreationForm(AdminUserCreationForm):
    """An org admin adds a person to their organization, with a role; the plan limit is checked."""

    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.AGENT)

    class Meta:
        model = User
        fields = ["email", "full_name", "language"]

    organization = None  # set by UserAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        if self.organization is not None:
            try:
                limits.plan_limit_check(organization=self.organization, resource="users")
            except ValidationError as error:
                raise ValidationError(error.messages) from error
        return cleaned


class OrgUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(TenantScopedAdmin, DjangoUserAdmin):
    form = OrgUserChangeForm
    add_form = OrgUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_superuser", "last_login"]
    list_filter = ["is_active", "is_superuser"]
    search_fields = ["email", "full_name"]
    inlines = [MembershipInline]
    super_fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal info"), {"fields": ["full_name", "language", "time_zone"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    org_fieldsets = [
        (None, {"fields": ["email"]}),
        (_("Personal info"), {"fields": ["full_name", "language", "time_zone"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "language", "role", "usable_password", "password1", "password2"],
            },
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            if is_super_admin(request):
                fields = [f for f in self.add_fieldsets[0][1]["fields"] if f != "role"]
                return [(None, {"classes": ["wide"], "fields": fields})]
            return self.add_fieldsets
        return self.super_fieldsets if is_super_admin(request) else self.org_fieldsets

    def _shared_with_others(self, request, user) -> bool:
        """A user who also belongs elsewhere (or is a super admin) is not this org admin's to re-identify."""
        organization = admin_organization(request)
        return user.is_superuser or user.memberships.exclude(organization=organization).exists()

    def get_readonly_fields(self, request, obj=None):
        base = ["last_login", "date_joined"]
        if obj is None or is_super_admin(request):
            return base
        # Changing the email or password of someone who works elsewhere too would hand over
        # their other organizations: only their membership here is editable.
        return (
            base + ["email", "full_name", "language", "time_zone"] if self._shared_with_others(request, obj) else base
        )

    def user_change_password(self, request, id, form_url=""):
        if not is_super_admin(request):
            user = self.get_object(request, id)
            if self._shared_with_others(request, user):
                raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def get_list_display(self, request):
        display = super().get_list_display(request)
        return display if is_super_admin(request) else [f for f in display if f != "is_superuser"]

    def get_list_filter(self, request):
        return self.list_filter if is_super_admin(request) else ["is_active"]

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            form.organization = admin_organization(request)
            if form.organization is None:
                # Super admins create users without a membership; they add one on the next page.
                form.base_fields.pop("role", None)
        return form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        organization = admin_organization(request)
        if not change and organization is not None:
            services.membership_create(
                organization=organization, user=obj, role=form.cleaned_data["role"], by=request.user
            )


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(TenantScopedAdmin):
    """The organization's audit log: read-only for everyone; entries are written by services only."""

    list_display = ["created_at", "actor", "action", "content_type", "object_repr", "organization"]
    list_filter = ["actor", "action", ("created_at", admin.DateFieldListFilter), "organization"]
    list_select_related = ["actor", "content_type", "organization"]
    search_fields = ["object_repr", "action", "actor__email"]
    fields = [
        "created_at",
        "organization",
        "actor",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "changes",
        "metadata",
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class APITokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("“write” includes “read” of the same resource."),
    )

    class Meta:
        model = APIToken
        fields = ["organization", "name", "kind", "user", "scopes", "expires_at", "rate_limit_per_minute"]


@admin.register(APIToken)
class APITokenAdmin(TenantScopedAdmin):
    """API tokens: an org admin issues them (the token is shown once, after saving), sees when each
    was last used, and revokes them. A token is never edited: revoke it and issue another."""

    form = APITokenForm
    list_display = ["name", "kind", "user", "prefix_display", "scopes", "expires_at", "last_used_at", "state"]
    list_filter = ["kind", "user", "organization"]
    list_select_related = ["user", "organization"]
    search_fields = ["name", "prefix", "user__email"]
    actions = ["revoke"]

    @admin.display(description=_("token"))
    def prefix_display(self, obj):
        return f"ptk_{obj.prefix}_…"

    @admin.display(description=_("state"))
    def state(self, obj):
        if obj.revoked_at is not None:
            return _("revoked")
        return _("active") if obj.is_active else _("expired")

    def get_fields(self, request, obj=None):
        if obj is not None:
            return [
                "name",
                "kind",
                "user",
                "scopes",
                "expires_at",
                "rate_limit_per_minute",
                "last_used_at",
                "revoked_at",
                "revoked_by",
                "created_at",
            ]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user":
            organization = admin_organization(request)
            if organization is not None:
                field.queryset = User.objects.filter(memberships__organization=organization)
            field.initial = request.user.pk
        return field

    def save_model(self, request, obj, form, change):
        if change:
            return
        organization = obj.organization if admin_organization(request) is None else admin_organization(request)
        row, token = services.api_token_create(
            organization=organization,
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data["expires_at"],
            rate_limit_per_minute=form.cleaned_data["rate_limit_per_minute"],
            by=request.user,
        )
        obj.pk = row.pk
        obj._state.adding = False
        messages.warning(
            request,
            _("Copy the token now — it is not shown again: %(token)s") % {"token": token},
        )

    def save_related(self, request, form, formsets, change):
        pass  # no relations; the service wrote the row and its audit entry

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset:
            services.api_token_revoke(token=token, by=request.user)
        messages.success(request, _("Revoked."))
