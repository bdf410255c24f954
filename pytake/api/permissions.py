"""The one permission check of the API: scope per resource, role, read-only organization."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions

from pytake.api.principal import READ, WRITE, Principal


class ScopePermission(permissions.BasePermission):
    """Each view names its ``scope`` (a resource of ``RESOURCES``); safe methods need ``read``,
    the others ``write`` plus a role that acts (viewers read only). ``admin_only_write = True``
    on a view reserves writes to org admins (webhook endpoints); ``own_data = True`` lets every role
    change what is their own (their notifications and preferences)."""

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
        resource = getattr(view, "scope", None)
        if resource is None:
            return True
        writing = request.method not in permissions.SAFE_METHODS
        access = WRITE if writing else READ
        if not principal.has_scope(resource, access):
            raise exceptions.PermissionDenied(
                _("This token lacks the scope %(scope)s.") % {"scope": f"{resource}:{access}"}, code="scope"
            )
        if writing:
            if principal.read_only_reason:
                raise exceptions.PermissionDenied(principal.read_only_reason, code="read_only")
            if not principal.may_write and not getattr(view, "own_data", False):
                raise exceptions.PermissionDenied(_("Your role may read but not change anything."), code="role")
            if getattr(view, "admin_only_write", False) and not principal.is_admin:
                raise exceptions.PermissionDenied(_("Only organization admins may do this."), code="role")
        return True
