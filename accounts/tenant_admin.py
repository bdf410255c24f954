"""Tenant scoping for the Django admin: the base classes every app's ModelAdmin and inline use.

For an org admin (a non-superuser who entered the admin site, see ``PyTakeAdminSite``):
- changelists, change/delete/history pages and autocomplete show only the current
  organization's rows; another organization's id in a URL gives 404;
- foreign-key and many-to-many choices, and relation list filters, are limited to it;
- the ``organization`` field is hidden and set to the current organization on save, before
  validation, so uniqueness per organization is checked as a form error, not a database error.
Superusers see and edit everything, with the ``organization`` field shown.

Every add, change and deletion through a ``TenantScopedAdmin`` (inline rows included) writes an
audit log entry with the acting user and the changed fields' before/after (``accounts.audit``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import NON_FIELD_ERRORS, EmptyResultSet
from django.db import models
from django.http import Http404

from accounts import audit
from accounts.roles import Role
from accounts.scoping import scope_queryset, tenant_path_of

TENANT_FIELD = "organization"


def is_super_admin(request) -> bool:
    return request.user.is_active and request.user.is_superuser


def admin_organization(request):
    """The organization an org admin works on, or ``None`` for a super admin (no scoping)."""
    if is_super_admin(request):
        return None
    membership = getattr(request, "membership", None)
    if membership is None or membership.role != Role.ORG_ADMIN:
        # The admin site refuses such users before any ModelAdmin runs; fail closed anyway.
        raise Http404
    return request.organization


def has_tenant_field(model) -> bool:
    try:
        field = model._meta.get_field(TENANT_FIELD)
    except Exception:
        return False
    return isinstance(field, models.ForeignKey)


def tenant_form_class(form_class, organization):
    """Subclass ``form_class`` so its instance belongs to ``organization`` before it is validated."""

    class TenantForm(form_class):
        def _post_clean(self):
            if has_tenant_field(self._meta.model) and self.instance.organization_id is None:
                self.instance.organization = organization
            super()._post_clean()

        def _get_validation_exclusions(self):
            excluded = super()._get_validation_exclusions()
            excluded.discard(TENANT_FIELD)
            return excluded

        def _update_errors(self, errors):
            # The organization field is not in the form: its errors (a second row of a
            # one-per-organization model) are the form's, not a ValueError (a 500).
            if hasattr(errors, "error_dict") and TENANT_FIELD in errors.error_dict and TENANT_FIELD not in self.fields:
                errors.error_dict.setdefault(NON_FIELD_ERRORS, []).extend(errors.error_dict.pop(TENANT_FIELD))
            super()._update_errors(errors)

    TenantForm.__name__ = form_class.__name__
    return TenantForm


class SafeChangeList(ChangeList):
    """A changelist whose date drill-down refuses dates Python cannot compute with.

    ``?created_at__year=9999`` makes Django compute the year after (``ValueError``) and
    ``…__day=31&…__month=12&…__year=9999`` the day after (``OverflowError``), outside its own
    check, and a plain ``…__year=99999`` filter fails when compiled: all become the admin's
    "incorrect lookup" answer (a redirect with ``?e=1``).
    """

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        try:
            # A plain ``created_at__year=99999`` lookup fails only when compiled (the year's bounds).
            queryset.query.get_compiler(queryset.db).as_sql()
        except EmptyResultSet:
            pass
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error
        return queryset


class SafeChangeListMixin:
    """For every ModelAdmin of the site (``PyTakeAdminSite.register`` adds it to the others)."""

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if issubclass(changelist, SafeChangeList):
            return changelist
        return type(changelist.__name__, (SafeChangeList, changelist), {})


def _base_queryset(formfield_kwargs, related_model):
    queryset = formfield_kwargs.get("queryset")
    return related_model._default_manager.all() if queryset is None else queryset


class TenantScopingMixin:
    """Shared by ``TenantScopedAdmin`` and ``TenantScopedInline``."""

    def _org_admin_only(self, request) -> bool:
        return self.admin_site.has_permission(request)

    def has_module_permission(self, request):
        if is_super_admin(request):
            return super().has_module_permission(request)
        return self._org_admin_only(request)

    def has_view_permission(self, request, obj=None):
        if is_super_admin(request):
            return super().has_view_permission(request, obj)
        return self._org_admin_only(request)

    def has_add_permission(self, request, *args):
        if is_super_admin(request):
            return super().has_add_permission(request, *args)
        return self._org_admin_only(request)

    def has_change_permission(self, request, obj=None):
        if is_super_admin(request):
            return super().has_change_permission(request, obj)
        return self._org_admin_only(request)

    def has_delete_permission(self, request, obj=None):
        if is_super_admin(request):
            return super().has_delete_permission(request, obj)
        return self._org_admin_only(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        organization = admin_organization(request)
        if organization is None:
            return queryset
        return scope_queryset(queryset, organization)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if admin_organization(request) is not None and has_tenant_field(self.model):
            exclude.append(TENANT_FIELD)
        return exclude

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if admin_organization(request) is not None and TENANT_FIELD in fields and has_tenant_field(self.model):
            fields.remove(TENANT_FIELD)
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        organization = admin_organization(request)
        related = db_field.related_model
        if organization is not None and tenant_path_of(related) is not None:
            kwargs["queryset"] = scope_queryset(_base_queryset(kwargs, related), organization)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        organization = admin_organization(request)
        related = db_field.related_model
        if organization is not None and tenant_path_of(related) is not None:
            kwargs["queryset"] = scope_queryset(_base_queryset(kwargs, related), organization)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def _organizations_of(request, obj) -> list:
    """Whose audit log an admin write goes to: the org admin's organization; for a super admin, the
    row's own organization (for a user, each organization they belong to)."""
    organization = admin_organization(request)
    if organization is not None:
        return [organization]
    if obj._meta.model_name == "organization" and obj._meta.app_label == "accounts":
        return [obj]
    if has_tenant_field(type(obj)):
        return [obj.organization_id] if obj.organization_id else []
    path = tenant_path_of(type(obj))
    if path and path.endswith("__organization") and obj.pk is not None:
        related = getattr(obj, path.split("__")[0])
        return sorted(set(related.values_list("organization_id", flat=True)))
    return []


def _form_changes(form) -> dict[str, list]:
    """``{field: [before, after]}`` of a bound model form; secrets are marked, never stored."""
    changes = {}
    for name in form.changed_data:
        field = form.fields.get(name)
        if field is not None and getattr(field.widget, "input_type", "") == "password":
            changes[name] = ["***", "***"]
            continue
        changes[name] = [audit.json_value(form.initial.get(name)), audit.json_value(form.cleaned_data.get(name))]
    return changes


def _record_form(request, form, *, change: bool) -> None:
    obj = form.instance
    if obj.pk is None:
        return
    for organization in _organizations_of(request, obj):
        audit.record(
            organization=organization,
            actor=request.user,
            action="admin.change" if change else "admin.add",
            obj=obj,
            changes=_form_changes(form),
            metadata={"model": obj._meta.label},
        )


def _record_deletion(request, obj) -> None:
    for organization in _organizations_of(request, obj):
        audit.record(
            organization=organization,
            actor=request.user,
            action="admin.delete",
            obj=obj,
            metadata={"model": obj._meta.label},
        )


class TenantScopedAdmin(SafeChangeListMixin, TenantScopingMixin, admin.ModelAdmin):
    def save_related(self, request, form, formsets, change):
        inline_forms = []  # (form, added) of changed inline rows, known before they are saved
        for formset in formsets:
            for inline_form in formset.forms:
                if inline_form in formset.deleted_forms:
                    if inline_form.instance.pk is not None:
                        _record_deletion(request, inline_form.instance)
                elif inline_form.has_changed():
                    inline_forms.append((inline_form, inline_form.instance._state.adding))
        super().save_related(request, form, formsets, change)
        if form.has_changed() or not change:
            _record_form(request, form, change=change)
        for inline_form, added in inline_forms:
            _record_form(request, inline_form, change=not added)

    def delete_model(self, request, obj):
        _record_deletion(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _record_deletion(request, obj)
        super().delete_queryset(request, queryset)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Django would redirect with "doesn't exist"; a 404 says nothing about other tenants.
            raise Http404
        return obj

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        organization = admin_organization(request)
        return form if organization is None else tenant_form_class(form, organization)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if admin_organization(request) is None:
            return filters
        scoped = []
        for item in filters:
            if isinstance(item, str) and self._is_relation_path(item):
                # Plain relation filters list every organization's rows; only-related ones don't.
                scoped.append((item, RelatedOnlyFieldListFilter))
            else:
                scoped.append(item)
        return [f for f in scoped if f != TENANT_FIELD and (not isinstance(f, tuple) or f[0] != TENANT_FIELD)]

    def _is_relation_path(self, path: str) -> bool:
        model = self.model
        field = None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:
                return False
            if field.is_relation:
                model = field.related_model
        return field is not None and field.is_relation

    def get_list_display(self, request):
        display = list(super().get_list_display(request))
        if admin_organization(request) is not None and TENANT_FIELD in display:
            display.remove(TENANT_FIELD)
        return display


class TenantScopedInline(TenantScopingMixin):
    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        organization = admin_organization(request)
        if organization is not None:
            formset.form = tenant_form_class(formset.form, organization)
        return formset


class TenantScopedTabularInline(TenantScopedInline, admin.TabularInline):
    pass


class TenantScopedStackedInline(TenantScopedInline, admin.StackedInline):
    pass
