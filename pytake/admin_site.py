from django.contrib import admin
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

    def each_context(self, request):
        context = super().each_context(request)
        organization = getattr(request, "organization", None)
        if organization is not None and not request.user.is_superuser:
            context["site_header"] = _("PyTake administration — %(org)s") % {"org": organization.name}
        return context
