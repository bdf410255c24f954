"""How an API request proves who it is: a bearer token, or the browser's session.

Both set ``request.auth`` to a ``pytake.api.principal.Principal`` and, on the Django request,
``organization`` and ``membership`` as ``TenantMiddleware`` does for pages — so the views call the
same selectors and services with the same arguments as the pages do.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts import services
from accounts.roles import ACTING_ROLES, Role
from accounts.tenancy import read_only_message
from pytake.api.principal import Principal


def _principal(*, kind, organization, user, membership, scopes=None, token=None) -> Principal:
    superuser = user.is_superuser
    role = membership.role if membership is not None else None
    return Principal(
        kind=kind,
        organization=organization,
        user=user,
        membership=membership,
        may_write=superuser or role in ACTING_ROLES,
        is_admin=superuser or role == Role.ORG_ADMIN,
        scopes=frozenset(scopes) if scopes is not None else None,
        token_id=token.pk if token is not None else None,
        rate_limit=token.rate_limit_per_minute if token is not None else None,
        read_only_reason=None if superuser else read_only_message(organization),
    )


def _bind(request, principal: Principal) -> None:
    django_request = request._request
    django_request.organization = principal.organization
    django_request.membership = principal.membership
    django_request.user = principal.user


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer ptk_…``. A wrong, revoked or expired token is a 401 (never a guess
    at which): the answer does not tell them apart."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Give the token as: Authorization: Bearer <token>."))
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("This token is not valid.")) from None
        found = services.api_token_authenticate(token=token)
        if found is None:
            raise exceptions.AuthenticationFailed(_("This token is not valid, has expired or was revoked."))
        row, membership = found
        principal = _principal(
            kind=row.kind,
            organization=row.organization,
            user=row.user,
            membership=membership,
            scopes=row.scopes,
            token=row,
        )
        _bind(request, principal)
        return row.user, principal

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session, in the organization ``TenantMiddleware`` chose (CSRF enforced on writes)."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            return None
        user, _auth = found
        organization = getattr(request._request, "organization", None)
        if organization is None:
            raise exceptions.PermissionDenied(_("You are not a member of any organization."))
        principal = _principal(
            kind="session",
            organization=organization,
            user=user,
            membership=getattr(request._request, "membership", None),
        )
        return user, principal


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`ptk_…`), issued in the admin under API tokens; shown once.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
