"""The one outbox: every outbound delivery is a ``NotificationLog`` row, sent by one path.

**Enqueue.** ``notify()`` (staff, with decisions) and ``outbox_enqueue()`` (contacts and systems)
write rows inside the caller's transaction; a delivery task per ``pending`` row is published when
that transaction commits, so a rolled-back action sends nothing.

**Claim → send → record** (``notification_deliver``), the only way a row is sent:

1. *Claim*: one autocommitted ``UPDATE … SET status='sending', lease_until=now()+lease WHERE
   status='pending' RETURNING *``. Only the claimer goes on; a task delivered twice (``acks_late``
   redelivery, the relay re-queuing a row whose task is still in the broker) claims nothing.
2. *Send*: the row's transport (``notifications/transports.py``) talks to the provider outside any
   transaction and without a row lock. While it runs, this process's ``LeaseKeeper`` renews the
   lease of every row it is sending (one ``UPDATE`` for all of them every third of the lease).
3. *Record*: one short transaction moves the row to ``sent`` (with the provider id), back to
   ``pending`` for a retry (backoff 5 s, 25 s, 125 s × ``NOTIFICATIONS_RETRY_BASE_SECONDS``, up
   to the row's ``max_retries``) or to ``failed`` with the error; the transport's ``on_outcome``
   updates its own rows in the same transaction.

**The crashed-mid-send window.** A worker killed between the claim and the record leaves the row
``sending`` with a lease nobody renews. The lease is ``NOTIFICATIONS_SENDING_LEASE_SECONDS``
(default: the relay period), so the relay notices within two relay periods and sends the row
again (counting a retry). Neither SMTP nor the Graph API has an idempotency key, so nobody can
know whether the provider accepted the first attempt: delivery is **at-least-once**, and the
duplicate window is the time between the provider's answer and the record ``UPDATE`` — one round
trip to PostgreSQL. Emails keep the same ``Message-ID`` (derived from the row) so mail systems
can collapse such duplicates. Losing a message silently is the worse failure.
"""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from notifications.adapters import PermanentDeliveryError
from notifications.models import NotificationLog, Status
from notifications.registry import SYSTEM_CHANNELS, Channel, event_type_get
from notifications.services.notify import REASON_TEXT, _decide, _load_facts
from notifications.services.publish import _enqueue_on_commit
from notifications.transports import outcome_hook, transport_for
from pytake import metrics

logger = logging.getLogger(__name__)


# --- Enqueue ------------------------------------------------------------------------------


def outbox_enqueue(
    *,
    organization: Organization,
    event_type: str,
    channel: str,
    recipient: str,
    contact_id: int | None = None,
    transport: str = "",
    payload: dict | None = None,
    subject: str = "",
    message: str = "",
    html: str = "",
    metadata: dict | None = None,
    dedupe_key: str | None = None,
    status: str = Status.PENDING,
    reason: str = "",
    error: str = "",
    scheduled_at: datetime.datetime | None = None,
    max_retries: int | None = None,
) -> tuple[NotificationLog, bool]:
    """Write one outbox row addressed to a contact (or a system); returns ``(row, created)``.

    For deliveries that are not a staff notification: agent replies, template sends, customer
    appointment messages. Must run inside the action's transaction; the row is published after the
    commit. ``dedupe_key`` makes a repeated call return the first row (``created=False``):
    ``INSERT … ON CONFLICT DO NOTHING`` on the unique key, so two concurrent callers write one row.
    ``status`` may be ``skipped`` (with ``reason``/``error``) to record a decision not to send.
    """
    event_type_get(event_type)
    if channel not in Channel.values and channel not in SYSTEM_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    now = timezone.now()
    key = (dedupe_key or f"outbox:{uuid.uuid4().hex}")[:200]
    row = NotificationLog(
        organization=organization,
        recipient_contact_id=contact_id,
        event_type=event_type,
        channel=channel,
        recipient=recipient[:255],
        subject=subject[:255],
        message=message,
        html=html,
        status=status,
        reason=reason,
        error=error,
        scheduled_at=scheduled_at or now,
        enqueued_at=now if status == Status.PENDING else None,
        max_retries=settings.NOTIFICATIONS_MAX_RETRIES if max_retries is None else max_retries,
        metadata=dict(metadata or {}),
        transport=transport,
        payload=dict(payload or {}),
        dedupe_key=key,
    )
    row.pk = _insert_once(row)
    if row.pk is None:
        return NotificationLog.objects.get(dedupe_key=key), False
    row._state.adding, row._state.db = False, "default"
    if row.status == Status.PENDING:
        _enqueue_on_commit([row.pk])
    return row, True


def _insert_once(row: NotificationLog) -> int | None:
    """``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``: the new id, or ``None`` if the
    key exists. One statement, no savepoint: safe against a concurrent insert of the same key."""
    meta = NotificationLog._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{meta.db_table}" ({columns}) VALUES ({placeholders}) '  # noqa: S608 (names from the model)
            f'ON CONFLICT ("dedupe_key") DO NOTHING RETURNING "id"',
            values,
        )
        found = cursor.fetchone()
    return found[0] if found else None


# --- Claim → send → record -------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: float | None = None


def retry_delay(retry_count: int) -> float:
    """Backoff before retry number ``retry_count`` (1, 2, 3 …): 5 s, 25 s, 125 s × the base setting.

    A transport may define its own ``retry_delay(retry_count)`` (outbound webhooks retry for a day
    with jitter); the number of retries is the row's ``max_retries``, set when it is enqueued."""
    return float(settings.NOTIFICATIONS_RETRY_BASE_SECONDS) * (5**retry_count)


def _lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.NOTIFICATIONS_SENDING_LEASE_SECONDS)


class LeaseKeeper:
    """Renews the sending lease of the rows this process is sending, all in one ``UPDATE``.

    One daemon thread per process, started on first use. It wakes every third of the lease; when
    rows are in flight it pushes their ``lease_until`` forward, then closes its database connection
    (it holds none while idle). A process that dies stops renewing, and the relay takes its rows
    back once their lease runs out.
    """

    def __init__(self):
        self._rows: dict[int, datetime.datetime] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = None

    def hold(self, log_id: int, claimed_at: datetime.datetime) -> None:
        import os

        with self._lock:
            self._rows[log_id] = claimed_at
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="outbox-lease-keeper", daemon=True)
                self._thread.start()

    def release(self, log_id: int) -> None:
        with self._lock:
            self._rows.pop(log_id, None)

    def in_flight(self) -> dict[int, datetime.datetime]:
        with self._lock:
            return dict(self._rows)

    def renew(self) -> int:
        """Push the lease of every row in flight forward; returns how many rows were renewed."""
        rows = self.in_flight()
        if not rows:
            return 0
        now = timezone.now()
        table = NotificationLog._meta.db_table
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    f'UPDATE "{table}" SET "lease_until" = %s '  # noqa: S608 (table name from the model)
                    f'WHERE "id" = ANY(%s) AND "status" = %s',
                    [now + _lease(), list(rows), Status.SENDING],
                )
                return cursor.rowcount
        finally:
            connection.close()

    def _run(self) -> None:
        import time

        while True:
            time.sleep(max(0.2, settings.NOTIFICATIONS_SENDING_LEASE_SECONDS / 3))
            try:
                self.renew()
            except Exception:
                logger.exception("renewing the outbox sending leases failed")


lease_keeper = LeaseKeeper()


def _claim(*, log_id: int, now: datetime.datetime) -> NotificationLog | None:
    """``UPDATE … SET status='sending' WHERE status='pending' RETURNING *``: one atomic statement
    that both claims the row and loads it; ``None`` if someone else has it (or it is not pending)."""
    table = NotificationLog._meta.db_table
    rows = list(
        NotificationLog.objects.raw(
            f'UPDATE "{table}" SET "status" = %s, "claimed_at" = %s, "lease_until" = %s, "updated_at" = %s '  # noqa: S608
            f'WHERE "id" = %s AND "status" = %s RETURNING *',
            [Status.SENDING, now, now + _lease(), now, log_id, Status.PENDING],
        )
    )
    return rows[0] if rows else None


def _record(
    sender, log: NotificationLog, mine, *, status: str, provider_id: str = "", error: str = "", **fields
) -> bool:
    """The outcome of one attempt, with the transport's own rows, in one short transaction."""
    now = timezone.now()
    if getattr(sender, "on_outcome", None) is None:
        return bool(mine.update(status=status, error=error[:2000], updated_at=now, **fields))
    with transaction.atomic():
        updated = mine.update(status=status, error=error[:2000], updated_at=now, **fields)
        if updated:
            log.status, log.error, log.provider_message_id = status, error, provider_id or log.provider_message_id
            outcome_hook(sender, log, status=status, provider_id=provider_id, error=error)
    return bool(updated)


def notification_deliver(*, log_id: int) -> DeliveryOutcome:
    """Send one row if it can be claimed; safe to call any number of times for the same row.

    Not one transaction on purpose: the claim commits before the transport runs (so a second task
    sees it), the network call holds no transaction or lock, and the outcome commits after.
    """
    now = timezone.now()
    log = _claim(log_id=log_id, now=now)
    if log is None:
        return DeliveryOutcome("not_claimed")
    mine = NotificationLog.objects.filter(pk=log_id, status=Status.SENDING, claimed_at=now)
    sender = None
    lease_keeper.hold(log_id, now)
    try:
        sender = transport_for(log)
        provider_id = sender.send(log) or ""
    except PermanentDeliveryError as error:
        lease_keeper.release(log_id)
        _record(sender, log, mine, status=Status.FAILED, error=str(error), lease_until=None)
        metrics.observe_delivery_failure(channel=log.channel, retrying=False)
        logger.warning("outbox row %s failed permanently: %s", log_id, error)
        return DeliveryOutcome(Status.FAILED)
    except Exception as error:
        lease_keeper.release(log_id)
        message = f"{type(error).__name__}: {error}"
        if log.retry_count < log.max_retries:
            retries = log.retry_count + 1
            delay = getattr(sender, "retry_delay", retry_delay)(retries)
            _record(
                sender,
                log,
                mine,
                status=Status.PENDING,
                error=message,
                retry_count=retries,
                claimed_at=None,
                lease_until=None,
                enqueued_at=timezone.now() + datetime.timedelta(seconds=delay),
            )
            metrics.observe_delivery_failure(channel=log.channel, retrying=True)
            logger.info("outbox row %s failed (%s); retry %d in %.2fs", log_id, message, retries, delay)
            return DeliveryOutcome(Status.PENDING, retry_in=delay)
        _record(sender, log, mine, status=Status.FAILED, error=message, lease_until=None)
        metrics.observe_delivery_failure(channel=log.channel, retrying=False)
        logger.warning("outbox row %s failed after %d retries: %s", log_id, log.retry_count, message)
        return DeliveryOutcome(Status.FAILED)
    lease_keeper.release(log_id)
    sent_at = timezone.now()
    _record(
        sender,
        log,
        mine,
        status=Status.SENT,
        provider_id=provider_id,
        sent_at=sent_at,
        provider_message_id=provider_id[:255],
        lease_until=None,
    )
    metrics.observe_delivery(channel=log.channel, seconds=(sent_at - log.scheduled_at).total_seconds())
    return DeliveryOutcome(Status.SENT)


# --- Relay: lost tasks, stuck rows, deferred rows -------------------------------------------


@dataclass
class RelayResult:
    released: int = 0
    redeferred: int = 0
    skipped: int = 0
    requeued: int = 0
    reclaimed: int = 0
    failed: int = 0

    def __str__(self):
        return (
            f"released {self.released}, re-deferred {self.redeferred}, not sent {self.skipped}, "
            f"re-queued {self.requeued}, stale sends recovered {self.reclaimed}, failed {self.failed}"
        )


@transaction.atomic
def notification_relay(
    *,
    now: datetime.datetime | None = None,
    relay_after: float | None = None,
    lease: float | None = None,
    limit: int = 5000,
) -> RelayResult:
    """The Beat job: release due ``deferred`` rows, re-queue lost ``pending`` ones, recover stale sends.

    Reads only rows of the outbox index (pending/deferred/sending). Rows are locked with
    ``SKIP LOCKED`` so two overlapping runs share the work instead of doubling it.
    """
    now = now or timezone.now()
    relay_after = settings.NOTIFICATIONS_RELAY_AFTER_SECONDS if relay_after is None else relay_after
    # A sending row is stale when its lease ran out unrenewed; ``lease`` (seconds) also treats as
    # stale any claim older than that, renewed or not (an operator's override, and for tests).
    fallback = settings.NOTIFICATIONS_SENDING_LEASE_SECONDS if lease is None else lease
    stale_claim = Q(lease_until__lt=now) | Q(
        lease_until__isnull=True, claimed_at__lt=now - datetime.timedelta(seconds=fallback)
    )
    if lease is not None:
        stale_claim |= Q(claimed_at__lt=now - datetime.timedelta(seconds=lease))
    result = RelayResult()
    to_publish: list[int] = []

    # 1. Stale sends: the worker died between claim and outcome (its lease ran out unrenewed).
    stale = list(
        NotificationLog.objects.select_for_update(skip_locked=True)
        .filter(status=Status.SENDING)
        .filter(stale_claim)
        .order_by("claimed_at")[:limit]
    )
    for log in stale:
        note = "The worker was lost while sending (lease expired); delivery unknown."
        if log.retry_count < log.max_retries:
            log.status, log.retry_count, log.claimed_at, log.lease_until, log.enqueued_at = (
                Status.PENDING,
                log.retry_count + 1,
                None,
                None,
                now,
            )
            log.error = note + " Sent again."
            result.reclaimed += 1
            to_publish.append(log.pk)
        else:
            log.status, log.error = Status.FAILED, note
            result.failed += 1
        log.save(
            update_fields=["status", "retry_count", "claimed_at", "lease_until", "enqueued_at", "error", "updated_at"]
        )

    # 2. Pending rows whose task should have run by now: lost or never published.
    lost = list(
        NotificationLog.objects.select_for_update(skip_locked=True)
        .filter(status=Status.PENDING, scheduled_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=now - datetime.timedelta(seconds=relay_after)))
        .order_by("scheduled_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    if lost:
        NotificationLog.objects.filter(pk__in=lost).update(enqueued_at=now, updated_at=now)
        result.requeued = len(lost)
        to_publish.extend(lost)

    # 3. Deferred rows that came due: decided again (quiet hours, limits, toggles may have changed).
    due = list(
        NotificationLog.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=Status.DEFERRED, scheduled_at__lte=now)
        .select_related("user", "organization")
        .order_by("scheduled_at", "id")[:limit]
    )
    by_org: dict[int, list[NotificationLog]] = defaultdict(list)
    for log in due:
        if log.user_id is None:
            # A contact's message deferred to a moment (not by a person's preferences): due now.
            log.status, log.reason, log.enqueued_at = Status.PENDING, "", now
            log.save(update_fields=["status", "reason", "enqueued_at", "updated_at"])
            result.released += 1
            to_publish.append(log.pk)
            continue
        by_org[log.organization_id].append(log)
    for rows in by_org.values():
        organization = rows[0].organization
        facts = _load_facts(organization=organization, users=list({r.user_id: r.user for r in rows}.values()), now=now)
        emails_released = 0
        for log in rows:
            if log.channel == Channel.EMAIL and emails_released >= facts.org_settings.email_batch_size:
                continue  # the next run takes them: the organization's batch size
            decision = _decide(
                facts=facts,
                user=log.user,
                event=event_type_get(log.event_type),
                channel=log.channel,
                urgent=log.urgent,
                now=now,
            )
            log.status, log.reason = decision.status, decision.reason
            if decision.status == Status.PENDING:
                log.scheduled_at, log.enqueued_at, log.recipient = now, now, decision.recipient
                emails_released += log.channel == Channel.EMAIL
                result.released += 1
                to_publish.append(log.pk)
            elif decision.status == Status.DEFERRED:
                log.scheduled_at = decision.scheduled_at
                result.redeferred += 1
            else:
                log.error = str(REASON_TEXT.get(decision.reason, ""))
                result.skipped += 1
            log.save(
                update_fields=["status", "reason", "scheduled_at", "enqueued_at", "recipient", "error", "updated_at"]
            )

    _enqueue_on_commit(to_publish)
    return result
