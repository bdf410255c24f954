"""Fixed-window counters in Redis (the Django cache): the one rate-limit mechanism.

Used by the public booking page (per client address) and the API (per token or user).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Window:
    limit: int
    count: int
    reset: int  # seconds until the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


def hit(*, scope: str, key: str, limit: int, window: int, now: float | None = None) -> Window:
    """Count one hit of ``key`` in the current window of ``window`` seconds. Atomic (``INCR``)."""
    now = time.time() if now is None else now
    index = int(now // window)
    bucket = f"ratelimit:{scope}:{key}:{index}"
    if cache.add(bucket, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(bucket)
        except ValueError:  # expired between add and incr
            cache.add(bucket, 1, timeout=window + 1)
            count = 1
    reset = max(1, int((index + 1) * window - now + 0.999))
    return Window(limit=limit, count=count, reset=reset)
