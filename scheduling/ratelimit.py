"""A fixed-window rate limit per client address, counted in Redis (the Django cache)."""

from __future__ import annotations

from django.conf import settings

from pytake import ratelimit


def booking_limit() -> tuple[int, int]:
    """(attempts, window seconds) for booking posts from one address."""
    return (
        settings.SCHEDULING_BOOKING_RATE_LIMIT,
        settings.SCHEDULING_BOOKING_RATE_WINDOW,
    )


def client_address(request) -> str:
    """The address the request came from (``REMOTE_ADDR``: a TLS proxy must set it, e.g. Daphne's --proxy-headers)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def allow(*, scope: str, key: str, limit: int, window: int) -> bool:
    """Count one hit of ``key`` in the current window; ``False`` once over ``limit``. Atomic (INCR)."""
    return ratelimit.hit(scope=f"scheduling:{scope}", key=key, limit=limit, window=window).allowed
