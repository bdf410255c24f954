"""Retention step of the conversations app: archive closed conversations idle for the organization's period."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from accounts.retention import batches
from conversations import selectors, services


def _archive_idle(*, organization, now, batch_size, dry_run) -> Iterator[int]:
    closed_before = now - datetime.timedelta(days=organization.archive_closed_after_days)
    if dry_run:
        yield selectors.conversation_idle_closed(organization=organization, closed_before=closed_before).count()
        return
    yield from batches(
        lambda: services.conversation_archive_idle(
            organization=organization, closed_before=closed_before, batch_size=batch_size
        ),
        batch_size,
    )


RETENTION_STEPS = [("idle closed conversations archived", _archive_idle)]
