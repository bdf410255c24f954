"""A fixed-window rate limit per client address, counted in Redis (the Django cache)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


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
    bucket = f"scheduling:ratelimit:{scope}:{key}:{int(time.time() // window)}"
    if cache.add(bucket, 1, timeout=window + 1):
        return 1 <= limit
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window + 1)
        count = 1
    return count <= limit
