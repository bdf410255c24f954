"""The current organization of a request, and the role checks that views reuse.

``TenantMiddleware`` sets ``request.organization`` (or ``None``), ``request.membership`` (the
user's membership there, ``None`` for a superuser outside their own organizations) and
``request.memberships`` (all of the user's, for the switcher). The choice is kept in the session
and always re-checked against the user's memberships, so a stale or forged value falls back.
"""

from __future__ import annotations

from functools import wraps

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts import selectors

SESSION_KEY = "pytake_organization_id"


class TenantMiddleware:
    """Sync and async: under ASGI a sync-only middleware would run every request's whole chain,
    async views included, in Django's one thread for sync code."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        _set_tenant(request)
        return self.get_response(request)

    async def __acall__(self, request):
        await sync_to_async(_set_tenant)(request)
        return await self.get_response(request)


def _set_tenant(request) -> None:
    request.organization = None
    request.membership = None
    request.memberships = []
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        resolve_tenant(request)


SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
# What a member of a read-only organization may still post: leave, switch, change language.
READ_ONLY_ALLOWED_VIEWS = frozenset(
    {"accounts:login", "accounts:logout", "accounts:switch", "set_language", "accounts:password_reset"}
)
READ_ONLY_HEADER = "X-PyTake-Read-Only"


def read_only_message(organization) -> str | None:
    """Why ``organization`` cannot be changed now (its trial ended without a plan), or ``None``.

    The one rule for the UI: the middleware below refuses writes with it, the inbox websocket
    refuses ``send`` frames with it, and the base layout shows it as a banner. Inbound customer
    messages (webhooks) and the system's own jobs are never refused.
    """
    if organization is None or not organization.is_read_only:
        return None
    ended = formats.date_format(timezone.localtime(organization.trial_ends_at, organization.tzinfo), "DATE_FORMAT")
    return _(
        "The trial of %(org)s ended on %(date)s without a plan, so the organization is read-only: "
        "you can see everything, but nothing can be changed. Customer messages are still received. "
        "Ask your PyTake provider to choose a plan."
    ) % {"org": organization.name, "date": ended}


class ReadOnlyOrganizationMiddleware:
    """Refuses writes (non-safe methods) in a read-only organization: a 403 page, or for HTMX the
    banner partial retargeted into the page. Super admins (who fix the plan) are not refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        organization = getattr(request, "organization", None)
        if request.method not in SAFE_METHODS and organization is not None and not request.user.is_superuser:
            message = read_only_message(organization)
            if message is not None and _view_name(request) not in READ_ONLY_ALLOWED_VIEWS:
                return _read_only_response(request, message)
        return self.get_response(request)


def _view_name(request) -> str | None:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return None


def _read_only_response(request, message: str):
    if request.headers.get("HX-Request"):
        context = {"read_only_message": message, "refused": True}
        response = render(request, "errors/read_only.html#notice", context, status=403)
        response["HX-Retarget"] = "#read-only-banner"
        response["HX-Reswap"] = "outerHTML"
    else:
        response = render(request, "errors/read_only.html", {"read_only_message": message}, status=403)
    response[READ_ONLY_HEADER] = "1"
    return response


def resolve_tenant(request) -> None:
    user = request.user
    memberships = selectors.membership_list_for_user(user=user)
    request.memberships = memberships
    wanted = request.session.get(SESSION_KEY)
    chosen = next((m for m in memberships if m.organization_id == wanted), None)
    if chosen is not None:
        request.membership, request.organization = chosen, chosen.organization
    elif user.is_superuser and wanted is not None:
        request.organization = selectors.organization_get(organization_id=wanted)
    elif memberships:
        request.membership, request.organization = memberships[0], memberships[0].organization
    elif user.is_superuser:
        request.organization = selectors.organization_first()


def switch_organization(request, organization_id: int) -> bool:
    """Make ``organization_id`` current if the user may work there; return whether it was allowed."""
    allowed = any(m.organization_id == organization_id for m in request.memberships)
    if not allowed and request.user.is_superuser:
        allowed = selectors.organization_get(organization_id=organization_id) is not None
    if allowed:
        request.session[SESSION_KEY] = organization_id
    return allowed


def current_role(request) -> str | None:
    membership = getattr(request, "membership", None)
    return membership.role if membership is not None else None


def has_role(request, roles) -> bool:
    """Superusers hold every role in every organization; others need a membership with one of ``roles``."""
    if not request.user.is_authenticated:
        return False
    if request.user.is_superuser:
        return getattr(request, "organization", None) is not None
    return current_role(request) in roles


def role_required(*roles):
    """View decorator: login, a current organization and one of ``roles`` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if getattr(request, "organization", None) is None:
                raise PermissionDenied("no-organization")
            if not has_role(request, roles):
                raise PermissionDenied("role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def tenant_context(request):
    """Template context: the organization, the role and the switcher's choices."""
    organization = getattr(request, "organization", None)
    memberships = getattr(request, "memberships", [])
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_superuser:
        switchable = selectors.organization_list_all()
    else:
        switchable = [m.organization for m in memberships]
    return {
        "current_organization": organization,
        "switchable_organizations": switchable,
        "current_membership": getattr(request, "membership", None),
        "user_memberships": getattr(request, "memberships", []),
        "is_org_admin": has_role(request, ("org_admin",)) if organization is not None else False,
        "read_only_message": read_only_message(organization),
    }
