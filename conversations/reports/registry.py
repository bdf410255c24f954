"""What the apps contribute to reports, by convention in ``<app>/reports.py`` (SPEC §2):

- ``REBUILDERS``: ``Rebuilder``s, each owning some rollup metrics and computing their facts for a
  day range from the app's raw rows (``rebuild_rollups`` runs them all);
- ``SECTIONS``: report pages (``sections.Section``), shown in the order of ``position``.

Conversations' own are in ``conversations/reports/rebuild.py`` and ``sections.py``; scheduling adds
appointments. Apps are read once, in ``INSTALLED_APPS`` order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from pytake.app_modules import app_submodules


@dataclass(frozen=True)
class Rebuilder:
    metrics: tuple[str, ...]
    facts: Callable[..., Iterable]  # (organization, day_from: dt.date, day_to: dt.date) -> Iterable[Fact]


@cache
def _contributions() -> tuple[tuple[Rebuilder, ...], tuple]:
    from conversations.reports import rebuild, sections

    rebuilders, found = list(rebuild.REBUILDERS), list(sections.SECTIONS)
    for module in app_submodules("reports"):
        rebuilders += getattr(module, "REBUILDERS", [])
        found += getattr(module, "SECTIONS", [])
    return tuple(rebuilders), tuple(sorted(found, key=lambda section: section.position))


def rebuilders() -> tuple[Rebuilder, ...]:
    return _contributions()[0]


def sections() -> tuple:
    return _contributions()[1]


def section(slug: str):
    return next((s for s in sections() if s.slug == slug), None)
