"""The SLA sweep: warnings and breaches raised exactly once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Membership
from conversations.models import (
    ACTIVE_STATUSES,
    Conversation,
    SlaKind,
)
from pytake.events import Event, dispatch_many


@dataclass(frozen=True)
class _SlaCheck:
    kind: str
    event: str
    due_field: str
    raised_field: str
    extra: Q


SLA_CHECKS = (
    _SlaCheck(
        SlaKind.FIRST_RESPONSE,
        "sla.warning",
        "first_response_warning_at",
        "first_response_warned_at",
        Q(first_response_at__isnull=True),
    ),
    _SlaCheck(
        SlaKind.FIRST_RESPONSE,
        "sla.breached",
        "first_response_due_at",
        "first_response_breached_at",
        Q(first_response_at__isnull=True),
    ),
    _SlaCheck(SlaKind.RESOLUTION, "sla.warning", "resolution_warning_at", "resolution_warned_at", Q()),
    _SlaCheck(SlaKind.RESOLUTION, "sla.breached", "resolution_due_at", "resolution_breached_at", Q()),
)


def sla_sweep(*, now: dt.datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Raise every SLA warning and breach that has fallen due, each exactly once.

    Each batch locks due rows with ``FOR UPDATE SKIP LOCKED`` (read through the partial
    indexes on the due columns), marks them raised and dispatches the events in one
    transaction: overlapping sweeps split the rows between them, and a rolled-back batch
    neither marks nor emits. Returns the number raised per ``<event>:<kind>``.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH_SIZE
    raised: dict[str, int] = {}
    for check in SLA_CHECKS:
        key = f"{check.event}:{check.kind}"
        raised[key] = 0
        while True:
            count = _sla_sweep_batch(check, now, batch_size)
            raised[key] += count
            if count < batch_size:
                break
    return raised


def _due_rows(check: _SlaCheck, now: dt.datetime, batch_size: int):
    """The rows one batch locks: read in due order through the check's partial index."""
    return (
        Conversation.objects.filter(
            check.extra,
            **{
                f"{check.due_field}__lte": now,
                f"{check.due_field}__isnull": False,
                f"{check.raised_field}__isnull": True,
            },
            status__in=ACTIVE_STATUSES,
            # A snoozed conversation's clock is paused: waking moves its targets later.
            snoozed_at__isnull=True,
        )
        .order_by(check.due_field)
        .select_for_update(skip_locked=True, of=("self",))
        .values("pk", "organization_id", "assignee_id", "queue_id", "first_response_due_at", "resolution_due_at")[
            :batch_size
        ]
    )


@transaction.atomic
def _sla_sweep_batch(check: _SlaCheck, now: dt.datetime, batch_size: int) -> int:
    rows = list(_due_rows(check, now, batch_size))
    if not rows:
        return 0
    Conversation.objects.filter(pk__in=[row["pk"] for row in rows]).update(**{check.raised_field: now})
    agents = dict(
        Membership.objects.filter(pk__in={row["assignee_id"] for row in rows if row["assignee_id"]}).values_list(
            "pk", "user_id"
        )
    )
    due_column = "first_response_due_at" if check.kind == SlaKind.FIRST_RESPONSE else "resolution_due_at"
    # One dispatch for the batch: batch listeners (the notification outbox) write all its rows at once.
    dispatch_many(
        [
            Event(
                check.event,
                row["organization_id"],
                {
                    "conversation_id": row["pk"],
                    "kind": str(check.kind),
                    "agent_id": agents.get(row["assignee_id"]),
                    "queue_id": row["queue_id"],
                    "due_at": row[due_column].isoformat() if row[due_column] else None,
                },
            )
            for row in rows
        ]
    )
    return len(rows)
