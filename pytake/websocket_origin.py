"""The Origin check of every websocket: the page's own origin — scheme, host and port — only.

Channels' ``AllowedHostsOriginValidator`` compares the host alone, so a page served on another
port of an allowed host (another application there) could open a socket with the user's
cookies. As Django's CSRF check does for forms, the Origin must equal the origin the socket was
opened on (``ws``→``http``, ``wss``→``https``, the ``Host`` header, default ports filled in), with
that host in ``ALLOWED_HOSTS``; or be one of ``CSRF_TRUSTED_ORIGINS``. Behind a TLS proxy Daphne
puts no scheme in the websocket scope, so ``SECURE_PROXY_SSL_HEADER`` (``BEHIND_TLS_PROXY=1``) is
read from the handshake's headers, as Django does for pages.
"""

from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _connection_scheme(scope) -> str:
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:
        name, expected = proxy_header
        wanted = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        if _header(scope, wanted) == expected:
            return "https"
    return "http"


def _server_host(scope) -> str | None:
    """``host:port`` the server says it listens on, for a handshake without a ``Host`` header."""
    server = scope.get("server")
    if not server or server[0] is None:
        return None
    host, port = server[0], server[1]
    return host if port is None else f"{host}:{port}"


class SameOriginValidator(OriginValidator):
    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and self.origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def origin_allowed(self, scope) -> bool:
        origin, host = _header(scope, b"origin"), _header(scope, b"host") or _server_host(scope)
        if not origin or not host:
            return False
        try:
            parsed_origin = urlparse(origin)
            parsed_origin.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return False
        if parsed_origin.hostname is None:
            return False
        trusted = getattr(settings, "CSRF_TRUSTED_ORIGINS", [])
        if any(self.match_allowed_origin(parsed_origin, pattern) for pattern in trusted if "://" in pattern):
            return True
        domain, _port = split_domain_port(host)
        if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
            return False
        own = f"{_connection_scheme(scope)}://{host.lower()}"
        try:
            return self.match_allowed_origin(parsed_origin, own) and parsed_origin.hostname == urlparse(own).hostname
        except ValueError:
            return False
