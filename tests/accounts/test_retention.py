"""Retention: idle closed conversations archived, finished outbox rows and audit entries purged,
each by its organization's period, with rows on both sides of every boundary."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts import audit, tasks
from accounts.models import AuditLogEntry, Organization
from accounts.retention import apply_retention
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.models import Conversation
from notifications.models import NotificationLog
from pytake.periodic import declared_periodic_tasks
from tests.conversations import factories as cf
from tests.notifications import factories as nf

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _closed(org, *, days_ago: float, last_message_days_ago: float | None = None) -> Conversation:
    conversation = cf.conversation(org)
    conversation_services.conversation_close(conversation=conversation)
    now = timezone.now()
    last = now - (last_message_days_ago if last_message_days_ago is not None else days_ago + 1) * DAY
    # Time travel: the rows were closed (and last written to) that long ago.
    Conversation.objects.filter(pk=conversation.pk).update(closed_at=now - days_ago * DAY, last_message_at=last)
    return conversation


def _log(org, *, days_ago: float, status: str) -> NotificationLog:
    row = nf.log(org)
    NotificationLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - days_ago * DAY, status=status)
    return row


def _entry(org, *, days_ago: float) -> AuditLogEntry:
    entry = audit.record(organization=org, actor=None, action="test.old", obj=org)
    AuditLogEntry.objects.filter(pk=entry.pk).update(created_at=timezone.now() - days_ago * DAY)
    return entry


@pytest.fixture
def world(tenant_a, tenant_b):
    Organization.objects.filter(pk=tenant_a.org.pk).update(
        archive_closed_after_days=30, outbox_retention_days=60, audit_retention_days=90
    )
    tenant_a.org.refresh_from_db()
    rows = {
        "archive": _closed(tenant_a.org, days_ago=30.5),
        "closed_recently": _closed(tenant_a.org, days_ago=29.5),
        "closed_but_active": _closed(tenant_a.org, days_ago=45, last_message_days_ago=10),
        "open_old": cf.conversation(tenant_a.org),
        # Organization B keeps the defaults (90/180/365): the same ages are not due there.
        "b_closed": _closed(tenant_b.org, days_ago=30.5),
        "sent_old": _log(tenant_a.org, days_ago=60.5, status="sent"),
        "failed_old": _log(tenant_a.org, days_ago=61, status="failed"),
        "skipped_old": _log(tenant_a.org, days_ago=100, status="skipped"),
        "pending_old": _log(tenant_a.org, days_ago=100, status="pending"),
        "deferred_old": _log(tenant_a.org, days_ago=100, status="deferred"),
        "sent_recent": _log(tenant_a.org, days_ago=59.5, status="sent"),
        "b_sent": _log(tenant_b.org, days_ago=61, status="sent"),
        "entry_old": _entry(tenant_a.org, days_ago=90.5),
        "entry_recent": _entry(tenant_a.org, days_ago=89.5),
        "b_entry": _entry(tenant_b.org, days_ago=90.5),
    }
    Conversation.objects.filter(pk=rows["open_old"].pk).update(last_message_at=timezone.now() - 400 * DAY)
    return rows


def _exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


def _status(conversation) -> str:
    return Conversation.objects.values_list("status", flat=True).get(pk=conversation.pk)


def test_each_boundary_by_the_organizations_periods(world):
    report = apply_retention(batch_size=1)

    assert _status(world["archive"]) == "archived"
    assert _status(world["closed_recently"]) == "closed"
    assert _status(world["closed_but_active"]) == "closed"
    assert _status(world["open_old"]) == "open"
    assert _status(world["b_closed"]) == "closed"

    for purged in ("sent_old", "failed_old", "skipped_old", "entry_old"):
        assert not _exists(world[purged]), purged
    for kept in ("pending_old", "deferred_old", "sent_recent", "b_sent", "entry_recent", "b_entry"):
        assert _exists(world[kept]), kept

    assert report.total("idle closed conversations archived") == 1
    assert report.total("notification log rows purged") == 3
    assert report.total("audit log entries purged") == 1


def test_a_dry_run_counts_and_changes_nothing(world):
    report = apply_retention(dry_run=True)
    assert report.total("idle closed conversations archived") == 1
    assert report.total("notification log rows purged") == 3
    assert report.total("audit log entries purged") == 1
    assert _status(world["archive"]) == "closed"
    assert _exists(world["sent_old"]) and _exists(world["entry_old"])


def test_the_command_reports_progress_per_batch_and_refuses_bad_arguments(world, tenant_a):
    out = StringIO()
    call_command("apply_retention", "--org", tenant_a.org.slug, "--dry-run", stdout=out)
    assert "Dry run, nothing changed" in out.getvalue()
    assert f"{tenant_a.org.slug}: notification log rows purged: 3 due" in out.getvalue()
    assert _exists(world["sent_old"])

    out = StringIO()
    call_command("apply_retention", "--org", tenant_a.org.slug, "--batch-size", "2", stdout=out)
    lines = out.getvalue().splitlines()
    # Three outbox rows in batches of two: progress after each batch.
    assert f"{tenant_a.org.slug}: notification log rows purged: 2 done" in lines
    assert f"{tenant_a.org.slug}: notification log rows purged: 3 done" in lines
    assert "Done: " in lines[-1]
    assert not _exists(world["sent_old"])
    assert _status(world["b_closed"]) == "closed"  # only the chosen organization

    with pytest.raises(CommandError, match="No organization"):
        call_command("apply_retention", "--org", "no-such-org", stdout=StringIO())
    with pytest.raises(CommandError, match="batch-size"):
        call_command("apply_retention", "--batch-size", "0", stdout=StringIO())


def test_the_beat_job_is_declared_and_runs_the_same_retention(world):
    assert declared_periodic_tasks()["accounts: retention"] == {
        "task": "accounts.tasks.apply_retention",
        "cron": "17 3 * * *",
    }
    assert tasks.apply_retention.name == "accounts.tasks.apply_retention"
    result = tasks.apply_retention()
    assert _status(world["archive"]) == "archived"
    assert any(key.endswith("idle closed conversations archived") and n == 1 for key, n in result.items())


def test_the_archive_query_reads_the_partial_index(tenant_a, tenant_b):
    """The plan is made deterministic with data, not left to the planner on a tiny table: thousands
    of conversations of the organization closed yesterday after a long silence (which any other
    index, on the organization, status or last message, would have to read through) and thousands
    open elsewhere, then ANALYZE (it reads every row of a table this small). The partial index
    answers with the one due row (cost ~8 against ~190 for the best alternative)."""
    now = timezone.now()
    ours, theirs = cf.contact(tenant_a.org), cf.contact(tenant_b.org)
    # Volume for the planner only, inserted in one statement (the services build the rows the
    # other tests check).
    Conversation.objects.bulk_create(
        [
            Conversation(
                organization=tenant_a.org,
                contact=ours,
                status="closed",
                closed_at=now - DAY,
                last_message_at=now - 400 * DAY,
            )
            for _ in range(3000)
        ]
        + [
            Conversation(organization=tenant_b.org, contact=theirs, status="open", last_message_at=now)
            for _ in range(2000)
        ]
    )
    due = _closed(tenant_a.org, days_ago=100)
    query = conversation_selectors.conversation_idle_closed(organization=tenant_a.org, closed_before=now - 30 * DAY)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
        locked_plan = query.select_for_update(skip_locked=True, of=("self",)).values_list("pk").explain()
    assert "conv_closed_archive_due" in plan, plan
    assert "conv_closed_archive_due" in locked_plan, locked_plan
    assert list(query.values_list("pk", flat=True)) == [due.pk]


def test_archiving_leaves_a_conversation_that_was_reopened(tenant_a):
    Organization.objects.filter(pk=tenant_a.org.pk).update(archive_closed_after_days=30)
    tenant_a.org.refresh_from_db()
    conversation = _closed(tenant_a.org, days_ago=40)
    conversation_services.conversation_reopen(conversation=conversation)
    apply_retention(organization=tenant_a.org)
    assert _status(conversation) == "open"
