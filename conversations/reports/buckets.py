"""Duration histograms: fixed bucket bounds (seconds), and percentiles read back from bucket counts.

A duration lands in the bucket ``i`` with ``BOUNDS[i] <= seconds < BOUNDS[i + 1]`` (the last
bucket is open-ended). A percentile is interpolated linearly inside its bucket, so it is exact
to the bucket's width; the mean is exact (from the stored totals).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

BOUNDS = (
    0, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400,
    21600, 28800, 43200, 86400, 172800, 345600, 604800,
)  # fmt: skip


def bucket_of(seconds: int) -> int:
    return max(0, bisect.bisect_right(BOUNDS, max(0, seconds)) - 1)


def key_of(seconds: int) -> str:
    """The rollup ``key`` of a duration's bucket: zero-padded so keys sort like buckets."""
    return f"{bucket_of(seconds):02d}"


def percentile(buckets: Mapping[int, tuple[int, int]], fraction: float) -> float | None:
    """The ``fraction`` (0..1) percentile of a histogram ``{bucket: (count, total_seconds)}``."""
    n = sum(count for count, _total in buckets.values())
    if n == 0:
        return None
    rank = fraction * n
    seen = 0
    for index in sorted(buckets):
        count, total = buckets[index]
        if count == 0:
            continue
        if seen + count >= rank:
            if index + 1 >= len(BOUNDS):
                return total / count  # open-ended bucket: its mean
            low, high = BOUNDS[index], BOUNDS[index + 1]
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return None
