from django.contrib import admin
from django.contrib.contenttypes import views as contenttype_views
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext_lazy as _

from accounts.roles import Role


class PyTakeAdminSite(admin.AdminSite):
    """Admin entry for super admins (Django superusers) and the org admins of the current organization.

    Agents and viewers cannot enter, whatever their ``is_staff`` flag. What an org admin sees
    inside is limited by ``accounts.tenant_admin.TenantScopedAdmin``.
    """

    site_header = _("PyTake administration")
    site_title = _("PyTake admin")
    index_title = _("Organization settings")

    def has_permission(self, request):
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        if user.is_superuser:
            return True
        membership = getattr(request, "membership", None)
        return membership is not None and membership.role == Role.ORG_ADMIN

    def register(self, model_or_iterable, admin_class=None, **options):
        from accounts.tenant_admin import SafeChangeListMixin

        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SafeChangeListMixin):
            # Third-party admins (auth, Celery Beat, axes) get the same guarded date drill-down.
            admin_class = type(admin_class.__name__, (SafeChangeListMixin, admin_class), {})
        super().register(model_or_iterable, admin_class, **options)

    def get_urls(self):
        # Ahead of Django's own ``r/`` (view on site), which looks the object up in every organization.
        scoped = path(
            "r/<int:content_type_id>/<path:object_id>/", self.admin_view(self.view_on_site), name="view_on_site"
        )
        return [scoped, *super().get_urls()]

    def view_on_site(self, request, content_type_id, object_id):
        """Django's shortcut, for objects of the admin's organization only: one 404 for foreign and missing."""
        from accounts.scoping import scope_queryset, tenant_path_of
        from accounts.tenant_admin import admin_organization

        organization = admin_organization(request)
        if organization is not None:
            content_type = ContentType.objects.filter(pk=content_type_id).first()
            model = content_type.model_class() if content_type is not None else None
            if model is None or tenant_path_of(model) is None:
                raise Http404
            try:
                visible = scope_queryset(model._default_manager.all(), organization).filter(pk=object_id).exists()
            except (ValueError, TypeError, ValidationError):
                visible = False
            if not visible:
                raise Http404
        try:
            return contenttype_views.shortcut(request, content_type_id, object_id)
        except Http404:
            raise Http404 from None

    def each_context(self, request):
        context = super().each_context(request)
        organization = getattr(request, "organization", None)
        if organization is not None and not request.user.is_superuser:
            context["site_header"] = _("PyTake administration — %(org)s") % {"org": organization.name}
        return context
