"""Per-token (or per-user) rate limits with ``RateLimit-*`` headers and 429 + ``Retry-After``.

A fixed window of one minute counted in Redis (``pytake.ratelimit``). The limit is the token's
own (``APIToken.rate_limit_per_minute``) or ``API_RATE_LIMIT_PER_MINUTE``. Every answer carries
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``
(the IETF draft's fields); an answer over the limit is a 429 problem with ``Retry-After``.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from pytake import ratelimit
from pytake.api.principal import Principal

WINDOW_SECONDS = 60


class PrincipalRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, Principal):
            return True  # refused by the permission check anyway
        limit = principal.rate_limit or settings.API_RATE_LIMIT_PER_MINUTE
        window = ratelimit.hit(scope="api", key=principal.key, limit=limit, window=WINDOW_SECONDS)
        request._request.api_rate_window = window
        self.window = window
        return window.allowed

    def wait(self) -> float:
        return float(self.window.reset)


def headers_for(window) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(window.remaining),
        "RateLimit-Reset": str(window.reset),
        "RateLimit-Policy": f"{window.limit};w={WINDOW_SECONDS}",
    }
