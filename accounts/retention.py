"""Retention: per organization, idle closed conversations are archived and old rows purged.

The organization holds the periods (``archive_closed_after_days``, ``outbox_retention_days``,
``audit_retention_days``). Each app that keeps rows contributes its steps in its own
``retention`` module as ``RETENTION_STEPS``: ``[(name, step), ...]`` where ``step(*,
organization, now, batch_size, dry_run) -> Iterator[int]`` yields the rows it handled batch by
batch (in a dry run, once, the rows that are due). ``apply_retention`` runs every step for every
organization, logging progress after each batch; the Beat job (``accounts.tasks.apply_retention``)
and ``manage.py apply_retention`` both call it.

Each batch is its own short transaction, so a long purge never holds locks for long and an
interrupted run simply continues next time.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditLogEntry, Organization
from pytake.app_modules import app_submodules

logger = logging.getLogger(__name__)

Step = Callable[..., Iterator[int]]


@dataclass
class RetentionReport:
    dry_run: bool
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (organization slug, step) → rows

    def total(self, step: str) -> int:
        return sum(n for (_slug, name), n in self.counts.items() if name == step)


def retention_steps() -> list[tuple[str, Step]]:
    steps: list[tuple[str, Step]] = []
    for module in app_submodules("retention"):
        steps.extend(getattr(module, "RETENTION_STEPS", []))
    return steps


def apply_retention(
    *,
    organization: Organization | None = None,
    now: datetime.datetime | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RetentionReport:
    """Run every retention step for ``organization`` (or every organization); returns the counts."""
    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    organizations = [organization] if organization is not None else list(Organization.objects.order_by("pk"))
    report = RetentionReport(dry_run=dry_run)
    verb = "due" if dry_run else "done"
    for org in organizations:
        for name, step in retention_steps():
            handled = 0
            for count in step(organization=org, now=now, batch_size=batch_size, dry_run=dry_run):
                handled += count
                message = f"{org.slug}: {name}: {handled} {verb}"
                logger.info(message)
                if progress is not None:
                    progress(message)
            report.counts[(org.slug, name)] = handled
    return report


def batches(run_batch: Callable[[], int], batch_size: int) -> Iterator[int]:
    """Call ``run_batch`` (one transaction each) until a batch comes back short; yield each count."""
    while True:
        count = run_batch()
        if count:
            yield count
        if count < batch_size:
            return


@transaction.atomic
def audit_log_purge(*, organization: Organization, older_than: datetime.datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` audit entries of ``organization`` created before ``older_than``."""
    ids = list(
        AuditLogEntry.objects.for_organization(organization)
        .filter(created_at__lt=older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if not ids:
        return 0
    _total, by_model = AuditLogEntry.objects.filter(pk__in=ids).delete()
    return by_model.get(AuditLogEntry._meta.label, 0)


def _purge_audit_log(*, organization, now, batch_size, dry_run) -> Iterator[int]:
    older_than = now - datetime.timedelta(days=organization.audit_retention_days)
    if dry_run:
        yield AuditLogEntry.objects.for_organization(organization).filter(created_at__lt=older_than).count()
        return
    yield from batches(
        lambda: audit_log_purge(organization=organization, older_than=older_than, batch_size=batch_size), batch_size
    )


RETENTION_STEPS: list[tuple[str, Step]] = [("audit log entries purged", _purge_audit_log)]
