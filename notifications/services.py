"""Every write of the notifications app. Start here.

``notify()`` is the public entry point for other apps (conversations' listeners here, scheduling's
appointment notifications): it decides, for each recipient × channel of the event type, whether to
send now, defer or not send — and leaves one ``NotificationLog`` row for every decision, written in
the caller's transaction. Delivery tasks are sent only after that transaction commits, so a
rolled-back action never notifies anybody.

Delivery guarantees (``notification_deliver``):

* A row is **claimed** with one atomic ``UPDATE … SET status='sending' WHERE status='pending'``;
  only the claimer sends. A task delivered twice (``acks_late`` redelivery, the relay re-queuing a
  row whose message is still in the broker) finds nothing to claim and does nothing.
* A failure is retried with exponential backoff (5 s, 25 s, 125 s ×
  ``NOTIFICATIONS_RETRY_BASE_SECONDS``) up to the row's ``max_retries``; then the row is
  ``failed`` with the error. Permanent errors (no address, refused recipient, not configured) fail
  at once.
* The relay (Beat, ``notification_relay``) re-queues ``pending`` rows whose task was lost
  (broker flushed, publish failed after commit) and releases ``deferred`` rows when due.
* **The crashed-mid-send window.** A worker killed between the claim and the ``sent`` update
  leaves the row ``sending``. SMTP has no idempotency key, so nobody can know whether the server
  accepted the message. We choose **at-least-once**: after ``NOTIFICATIONS_SENDING_LEASE_SECONDS``
  the relay puts the row back to ``pending`` (counting a retry) and it is sent again, with the
  same ``Message-ID`` header (derived from the row id), so that a duplicate is recognisable and
  mail systems that collapse by Message-ID do so. Losing a notification silently is the worse
  failure for an SLA breach; the window is a few milliseconds per in-flight email.

Hourly limits are counted from the database over a rolling hour of ``scheduled_at`` (the moment a
row became sendable) for rows pending, sending or out. Over the limit a row is deferred to the
moment the oldest counted row of the window ages out; when released it is decided again, so a
batch of deferred rows never breaks the limit.
"""

from __future__ import annotations

import datetime
import logging
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Membership, Organization
from notifications import decisions, selectors
from notifications.adapters import PermanentDeliveryError, adapter_for, user_group_name
from notifications.models import (
    COUNTED_STATUSES,
    NotificationLog,
    NotificationPreference,
    OrganizationNotificationSettings,
    Status,
)
from notifications.registry import INTERRUPTING_CHANNELS, PHONE_CHANNELS, Channel, EventType, event_type_get

logger = logging.getLogger(__name__)

HOUR = datetime.timedelta(hours=1)


class Reason:
    """Machine-readable reasons stored on rows that were not sent now."""

    NOT_MEMBER = "not_member"
    EVENT_DISABLED = "event_disabled"
    CHANNEL_DISABLED = "channel_disabled"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    NO_ADDRESS = "no_address"
    QUIET_HOURS = "quiet_hours"
    USER_RATE_LIMIT = "user_rate_limit"
    ORG_RATE_LIMIT = "org_rate_limit"


REASON_TEXT = {
    Reason.NOT_MEMBER: gettext_lazy("The user is not a member of the organization."),
    Reason.EVENT_DISABLED: gettext_lazy("The user turned this event type off."),
    Reason.CHANNEL_DISABLED: gettext_lazy("The user turned this channel off."),
    Reason.ROLE_NOT_ALLOWED: gettext_lazy("The organization's policy does not allow this channel for the user's role."),
    Reason.NO_ADDRESS: gettext_lazy("No address for this channel (e.g. no phone number)."),
    Reason.QUIET_HOURS: gettext_lazy("Inside the user's quiet hours: deferred to their end."),
    Reason.USER_RATE_LIMIT: gettext_lazy("Over the user's hourly limit: deferred to the next slot."),
    Reason.ORG_RATE_LIMIT: gettext_lazy("Over the organization's hourly email limit: deferred to the next slot."),
}


# --- Organization settings and preferences ------------------------------------------------


@transaction.atomic
def organization_settings_ensure(*, organization: Organization) -> OrganizationNotificationSettings:
    """The organization's notification settings, created with the defaults on first use."""
    org_settings, _created = OrganizationNotificationSettings.objects.get_or_create(organization=organization)
    return org_settings


@transaction.atomic
def organization_settings_update(*, organization: Organization, **fields) -> OrganizationNotificationSettings:
    org_settings = organization_settings_ensure(organization=organization)
    for name, value in fields.items():
        setattr(org_settings, name, value)
    org_settings.full_clean(exclude=["organization"])
    org_settings.save()
    return org_settings


def _preference_from_defaults(
    *, organization: Organization, user, org_settings: OrganizationNotificationSettings
) -> NotificationPreference:
    values = {name: getattr(org_settings, name) for name in NotificationPreference.COPIED_FIELDS}
    values["event_types"] = dict(values["event_types"])
    return NotificationPreference(organization=organization, user=user, **values)


@transaction.atomic
def preference_ensure(*, organization: Organization, user) -> NotificationPreference:
    """The user's preference in ``organization``; a new member starts from the organization's defaults."""
    existing = NotificationPreference.objects.for_organization(organization).filter(user=user).first()
    if existing is not None:
        return existing
    if not Membership.objects.for_organization(organization).filter(user=user).exists():
        raise ValidationError(_("The user is not a member of this organization."))
    org_settings = organization_settings_ensure(organization=organization)
    preference = _preference_from_defaults(organization=organization, user=user, org_settings=org_settings)
    preference.save()
    return preference


PREFERENCE_EDITABLE = set(NotificationPreference.COPIED_FIELDS) | {"phone_number"}


@transaction.atomic
def preference_update(*, preference: NotificationPreference, **fields) -> NotificationPreference:
    """Change some fields of a preference; raises ``ValidationError`` (per field) on bad values."""
    unknown = set(fields) - PREFERENCE_EDITABLE
    if unknown:
        raise ValidationError(_("Unknown preference fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    if "event_types" in fields:
        for name in fields["event_types"]:
            event_type_get(name)
        fields["event_types"] = {**preference.event_types, **fields["event_types"]}
    if "phone_number" in fields:
        fields["phone_number"] = normalize_phone(fields["phone_number"])
    for name, value in fields.items():
        setattr(preference, name, value)
    preference.full_clean(exclude=["organization", "user"])
    preference.save()
    return preference


def normalize_phone(value: str) -> str:
    """E.164 or empty; raises ``ValidationError`` with a clear message."""
    import phonenumbers

    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            {"phone_number": _("Enter the number in international format, e.g. +5511987654321.")}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone_number": _("This is not a valid phone number.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Deciding ----------------------------------------------------------------------------


@dataclass
class _Facts:
    """What the decisions need, loaded in bulk for one organization and a set of users."""

    organization: Organization
    org_settings: OrganizationNotificationSettings
    roles: dict[int, str]
    preferences: dict[int, NotificationPreference]
    # (user_id, channel) → scheduled times counted against the user's limit in the last hour
    recent: dict[tuple[int, str], list[datetime.datetime]] = field(default_factory=lambda: defaultdict(list))
    org_recent_emails: list[datetime.datetime] = field(default_factory=list)


def _load_facts(*, organization: Organization, users: list, now: datetime.datetime) -> _Facts:
    org_settings = selectors.organization_settings_find(organization=organization) or organization_settings_ensure(
        organization=organization
    )
    user_ids = [u.pk for u in users]
    roles = dict(
        Membership.objects.for_organization(organization).filter(user_id__in=user_ids).values_list("user_id", "role")
    )
    preferences = {
        p.user_id: p for p in NotificationPreference.objects.for_organization(organization).filter(user_id__in=user_ids)
    }
    for user in users:
        if user.pk not in preferences:
            preferences[user.pk] = _preference_from_defaults(
                organization=organization, user=user, org_settings=org_settings
            )
    facts = _Facts(organization=organization, org_settings=org_settings, roles=roles, preferences=preferences)
    window = NotificationLog.objects.for_organization(organization).filter(
        status__in=COUNTED_STATUSES,
        scheduled_at__gt=now - HOUR,
        scheduled_at__lte=now,
        channel__in=INTERRUPTING_CHANNELS,
    )
    for user_id, channel, at in window.filter(user_id__in=user_ids).values_list("user_id", "channel", "scheduled_at"):
        facts.recent[(user_id, _limit_bucket(channel))].append(at)
    facts.org_recent_emails = list(
        window.filter(channel=Channel.EMAIL)
        .order_by("-scheduled_at")
        .values_list("scheduled_at", flat=True)[: org_settings.email_rate_limit_per_hour]
    )
    return facts


def _limit_bucket(channel: str) -> str:
    """SMS and WhatsApp messages share the SMS limit (both reach the phone)."""
    return Channel.SMS if channel in PHONE_CHANNELS else channel


def user_time_zone(user, organization: Organization) -> zoneinfo.ZoneInfo:
    """The user's own zone, else the organization's (quiet hours are evaluated in it)."""
    name = getattr(user, "time_zone", "") or organization.time_zone
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str = ""
    scheduled_at: datetime.datetime | None = None
    recipient: str = ""


def _address(*, user, channel: str, preference: NotificationPreference, organization_id: int) -> str:
    if channel == Channel.EMAIL:
        return user.email
    if channel in PHONE_CHANNELS:
        return preference.phone_number
    return user_group_name(organization_id=organization_id, user_id=user.pk)


def _decide(*, facts: _Facts, user, event: EventType, channel: str, urgent: bool, now: datetime.datetime) -> Decision:
    role = facts.roles.get(user.pk)
    if role is None:
        return Decision(Status.SKIPPED, Reason.NOT_MEMBER)
    preference = facts.preferences[user.pk]
    if not preference.event_enabled(event):
        return Decision(Status.SKIPPED, Reason.EVENT_DISABLED)
    if not preference.channel_enabled(channel):
        return Decision(Status.SKIPPED, Reason.CHANNEL_DISABLED)
    if channel not in facts.org_settings.allowed_channels(role):
        return Decision(Status.SKIPPED, Reason.ROLE_NOT_ALLOWED)
    address = _address(user=user, channel=channel, preference=preference, organization_id=facts.organization.pk)
    if not address:
        return Decision(Status.SKIPPED, Reason.NO_ADDRESS)
    if channel not in INTERRUPTING_CHANNELS:
        return Decision(Status.PENDING, scheduled_at=now, recipient=address)

    bypass = urgent and facts.org_settings.urgent_bypasses_quiet_hours
    if preference.quiet_hours_enabled and not bypass:
        end = decisions.quiet_hours_end(
            now,
            start=preference.quiet_hours_start,
            end=preference.quiet_hours_end,
            tz=user_time_zone(user, facts.organization),
        )
        if end is not None:
            return Decision(Status.DEFERRED, Reason.QUIET_HOURS, end, address)

    bucket = _limit_bucket(channel)
    limit = preference.max_emails_per_hour if bucket == Channel.EMAIL else preference.max_sms_per_hour
    user_rate = decisions.rolling_hour_limit(now, limit=limit, recent=facts.recent[(user.pk, bucket)])
    if not user_rate.allowed:
        return Decision(Status.DEFERRED, Reason.USER_RATE_LIMIT, user_rate.next_slot, address)
    if channel == Channel.EMAIL:
        org_rate = decisions.rolling_hour_limit(
            now, limit=facts.org_settings.email_rate_limit_per_hour, recent=facts.org_recent_emails
        )
        if not org_rate.allowed:
            return Decision(Status.DEFERRED, Reason.ORG_RATE_LIMIT, org_rate.next_slot, address)
        facts.org_recent_emails.append(now)
    facts.recent[(user.pk, bucket)].append(now)
    return Decision(Status.PENDING, scheduled_at=now, recipient=address)


def _render(event: EventType, *, user, organization: Organization, context: dict) -> tuple[str, str, str, str]:
    """Subject, the email's plain text, the compact text (SMS, WhatsApp, in-app, live) and the HTML."""
    language = getattr(user, "language", "") or organization.locale
    full_context = {
        **context,
        "recipient": user,
        "organization": organization,
        "site_url": settings.SITE_URL.rstrip("/"),
        "event_type": event,
    }
    with translation.override(language):
        subject = " ".join(render_to_string(event.template("subject.txt"), full_context).split())[:255]
        text = render_to_string(event.template("txt"), full_context).strip()
        compact = render_to_string(event.template("txt"), {**full_context, "compact": True}).strip()
        html = render_to_string(event.template("html"), full_context)
    return subject, _squeeze_blank_lines(text), _squeeze_blank_lines(compact), html


def _squeeze_blank_lines(text: str) -> str:
    lines, blank = [], False
    for line in text.splitlines():
        if not line.strip():
            if not blank and lines:
                lines.append("")
            blank = True
            continue
        lines.append(line.rstrip())
        blank = False
    return "\n".join(lines).strip()


def notify(
    *,
    organization: Organization,
    event_type: str,
    recipients: Iterable,
    context: dict | None = None,
    urgent: bool = False,
    dedupe_key: str | None = None,
    metadata: dict | None = None,
    channels: Iterable[str] | None = None,
) -> list[NotificationLog]:
    """Notify ``recipients`` (users) of ``event_type`` in ``organization``; returns every row written.

    - ``context``: values for the event type's templates (``recipient``, ``organization`` and
      ``site_url`` are added). Keep them plain (strings, numbers, dates): they are rendered now,
      in each recipient's language, and stored on the rows.
    - ``urgent``: for urgent-capable event types, bypasses quiet hours when the organization allows it.
    - ``dedupe_key``: an id of the occurrence (e.g. ``"sla_warning:conv-12:first_response"``).
      Calling again with the same key writes nothing new and returns the existing rows, so a
      listener or a reminder job that runs twice notifies once.
    - ``metadata``: ids to keep with the rows (conversation_id, contact_id, appointment_id …).
    - ``channels``: limit to these channels (default: the event type's channels).

    Must be called inside the action's transaction (it joins it): the rows are written there and
    the delivery tasks are sent when it commits.
    """
    event = event_type_get(event_type)
    wanted = list(event.channels if channels is None else channels)
    for channel in wanted:
        if channel not in Channel.values:
            raise ValueError(f"unknown channel {channel!r}")
    users = list({u.pk: u for u in recipients}.values())
    if not users:
        return []
    urgent = bool(urgent and event.urgent_capable)
    base_key = dedupe_key or uuid.uuid4().hex
    now = timezone.now()

    with transaction.atomic():
        keys = {(u.pk, c): f"{organization.pk}:{event.name}:{base_key}:{u.pk}:{c}"[:200] for u in users for c in wanted}
        existing = {
            log.dedupe_key: log
            for log in NotificationLog.objects.for_organization(organization).filter(dedupe_key__in=keys.values())
        }
        if len(existing) == len(keys):
            return sorted(existing.values(), key=lambda log: log.pk)
        facts = _load_facts(organization=organization, users=users, now=now)
        rows: list[NotificationLog] = []
        for user in users:
            subject, text, compact, html = _render(event, user=user, organization=organization, context=context or {})
            for channel in wanted:
                key = keys[(user.pk, channel)]
                if key in existing:
                    continue
                decision = _decide(facts=facts, user=user, event=event, channel=channel, urgent=urgent, now=now)
                rows.append(
                    NotificationLog(
                        organization=organization,
                        user=user,
                        event_type=event.name,
                        channel=channel,
                        recipient=decision.recipient,
                        subject=subject,
                        message=text if channel == Channel.EMAIL else compact,
                        html=html if channel == Channel.EMAIL else "",
                        status=decision.status,
                        reason=decision.reason,
                        error=str(REASON_TEXT.get(decision.reason, "")) if decision.status == Status.SKIPPED else "",
                        urgent=urgent,
                        scheduled_at=decision.scheduled_at or now,
                        enqueued_at=now if decision.status == Status.PENDING else None,
                        max_retries=settings.NOTIFICATIONS_MAX_RETRIES,
                        metadata=dict(metadata or {}),
                        dedupe_key=key,
                    )
                )
        NotificationLog.objects.bulk_create(rows)
        _enqueue_on_commit([r.pk for r in rows if r.status == Status.PENDING])
    return sorted([*existing.values(), *rows], key=lambda log: log.pk)


# --- Sending -----------------------------------------------------------------------------


def _enqueue_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: publish_deliveries(ids), robust=True)


def publish_deliveries(ids: list[int]) -> int:
    """Send one delivery task per row id; returns how many were published.

    A failure to publish (broker down) is logged, not raised: the rows stay ``pending`` and the
    relay publishes them again.
    """
    from notifications.tasks import deliver_notification, ensure_broker_queue

    published = 0
    try:
        ensure_broker_queue()
        for log_id in ids:
            deliver_notification.apply_async(args=[log_id])
            published += 1
    except Exception:
        logger.exception(
            "publishing %d notification deliveries failed after %d; the relay will retry them", len(ids), published
        )
    return published


@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    retry_in: float | None = None


def retry_delay(retry_count: int) -> float:
    """Backoff before retry number ``retry_count`` (1, 2, 3 …): 5 s, 25 s, 125 s × the base setting."""
    return float(settings.NOTIFICATIONS_RETRY_BASE_SECONDS) * (5**retry_count)


def _claim(*, log_id: int, now: datetime.datetime) -> NotificationLog | None:
    """``UPDATE … SET status='sending' WHERE status='pending' RETURNING *``: one atomic statement
    that both claims the row and loads it; ``None`` if someone else has it (or it is not pending)."""
    table = NotificationLog._meta.db_table
    rows = list(
        NotificationLog.objects.raw(
            f'UPDATE "{table}" SET "status" = %s, "claimed_at" = %s, "updated_at" = %s '  # noqa: S608 (table name from the model)
            f'WHERE "id" = %s AND "status" = %s RETURNING *',
            [Status.SENDING, now, now, log_id, Status.PENDING],
        )
    )
    return rows[0] if rows else None


def notification_deliver(*, log_id: int) -> DeliveryOutcome:
    """Send one row if it can be claimed; safe to call any number of times for the same row.

    Not one transaction on purpose: the claim commits before the adapter runs (so a second task
    sees it), and the outcome commits after.
    """
    now = timezone.now()
    log = _claim(log_id=log_id, now=now)
    if log is None:
        return DeliveryOutcome("not_claimed")
    mine = NotificationLog.objects.filter(pk=log_id, status=Status.SENDING, claimed_at=now)
    try:
        provider_id = adapter_for(log.channel).send(log)
    except PermanentDeliveryError as error:
        mine.update(status=Status.FAILED, error=str(error)[:2000], updated_at=timezone.now())
        logger.warning("notification %s failed permanently: %s", log_id, error)
        return DeliveryOutcome(Status.FAILED)
    except Exception as error:
        message = f"{type(error).__name__}: {error}"[:2000]
        if log.retry_count < log.max_retries:
            retries = log.retry_count + 1
            delay = retry_delay(retries)
            mine.update(
                status=Status.PENDING,
                retry_count=retries,
                error=message,
                claimed_at=None,
                enqueued_at=timezone.now() + datetime.timedelta(seconds=delay),
                updated_at=timezone.now(),
            )
            logger.info("notification %s failed (%s); retry %d in %.2fs", log_id, message, retries, delay)
            return DeliveryOutcome(Status.PENDING, retry_in=delay)
        mine.update(status=Status.FAILED, error=message, updated_at=timezone.now())
        logger.warning("notification %s failed after %d retries: %s", log_id, log.retry_count, message)
        return DeliveryOutcome(Status.FAILED)
    sent_at = timezone.now()
    mine.update(
        status=Status.SENT, sent_at=sent_at, provider_message_id=provider_id[:255], error="", updated_at=sent_at
    )
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
    lease = settings.NOTIFICATIONS_SENDING_LEASE_SECONDS if lease is None else lease
    result = RelayResult()
    to_publish: list[int] = []

    # 1. Stale sends: the worker died between claim and outcome (see the module docstring).
    stale = list(
        NotificationLog.objects.select_for_update(skip_locked=True)
        .filter(status=Status.SENDING, claimed_at__lt=now - datetime.timedelta(seconds=lease))
        .order_by("claimed_at")[:limit]
    )
    for log in stale:
        note = "The worker was lost while sending (lease expired); delivery unknown."
        if log.retry_count < log.max_retries:
            log.status, log.retry_count, log.claimed_at, log.enqueued_at = (
                Status.PENDING,
                log.retry_count + 1,
                None,
                now,
            )
            log.error = note + " Sent again with the same Message-ID."
            result.reclaimed += 1
            to_publish.append(log.pk)
        else:
            log.status, log.error = Status.FAILED, note
            result.failed += 1
        log.save(update_fields=["status", "retry_count", "claimed_at", "enqueued_at", "error", "updated_at"])

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


# --- In-app center, resend, tracking ---------------------------------------------------------


def _push_unread_on_commit(*, organization_id: int, user_id: int) -> None:
    def push():
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        from notifications import selectors

        try:
            async_to_sync(get_channel_layer().group_send)(
                user_group_name(organization_id=organization_id, user_id=user_id),
                {
                    "type": "notification.unread",
                    "unread": selectors.unread_count(organization_id=organization_id, user_id=user_id),
                },
            )
        except Exception:
            logger.exception("pushing the unread count to user %s failed", user_id)

    transaction.on_commit(push, robust=True)


@transaction.atomic
def notification_mark_read(*, organization: Organization, user, log_id: int) -> bool:
    """Mark one of the user's in-app notifications read; ``False`` if it is not theirs."""
    updated = (
        NotificationLog.objects.for_organization(organization)
        .filter(pk=log_id, user=user, channel=Channel.IN_APP, read_at__isnull=True)
        .update(read_at=timezone.now())
    )
    exists = (
        updated
        or NotificationLog.objects.for_organization(organization)
        .filter(pk=log_id, user=user, channel=Channel.IN_APP)
        .exists()
    )
    if updated:
        _push_unread_on_commit(organization_id=organization.pk, user_id=user.pk)
    return bool(exists)


@transaction.atomic
def notification_mark_all_read(*, organization: Organization, user) -> int:
    updated = (
        NotificationLog.objects.for_organization(organization)
        .filter(user=user, channel=Channel.IN_APP, read_at__isnull=True)
        .update(read_at=timezone.now())
    )
    _push_unread_on_commit(organization_id=organization.pk, user_id=user.pk)
    return updated


RESENDABLE = (Status.FAILED, Status.BOUNCED, Status.SENT, Status.DELIVERED, Status.SKIPPED)


@transaction.atomic
def notification_resend(*, log: NotificationLog, by=None) -> NotificationLog | None:
    """Send the same notification again as a new row (the original stays as the audit trail).

    Rows still on their way (pending, deferred, sending) are not resent: ``None``. A skipped row
    is resent only if its recipient now has an address for the channel.
    """
    if log.status not in RESENDABLE:
        return None
    recipient = log.recipient
    if not recipient:
        preference = NotificationPreference.objects.filter(
            organization_id=log.organization_id, user_id=log.user_id
        ).first()
        recipient = _address(
            user=log.user,
            channel=log.channel,
            preference=preference or NotificationPreference(),
            organization_id=log.organization_id,
        )
        if not recipient:
            return None
    now = timezone.now()
    copy = NotificationLog.objects.create(
        organization_id=log.organization_id,
        user_id=log.user_id,
        event_type=log.event_type,
        channel=log.channel,
        recipient=recipient,
        subject=log.subject,
        message=log.message,
        html=log.html,
        urgent=log.urgent,
        status=Status.PENDING,
        scheduled_at=now,
        enqueued_at=now,
        max_retries=log.max_retries,
        metadata={**log.metadata, "resent_from": log.pk, **({"resent_by": by.pk} if by is not None else {})},
        dedupe_key=f"resend:{log.pk}:{uuid.uuid4().hex}",
    )
    _enqueue_on_commit([copy.pk])
    return copy


def notification_retry_failed(
    *, organization: Organization | None = None, since: datetime.datetime | None = None, limit: int = 1000
) -> list[NotificationLog]:
    """Resend ``failed`` rows (each once: a row already resent is not resent again)."""
    queryset = NotificationLog.objects.filter(status=Status.FAILED)
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    already = NotificationLog.objects.filter(metadata__has_key="resent_from").values_list(
        "metadata__resent_from", flat=True
    )
    resent_ids = {int(v) for v in already if v is not None}
    copies = []
    for log in queryset.select_related("user").order_by("id")[:limit]:
        if log.pk in resent_ids:
            continue
        copy = notification_resend(log=log)
        if copy is not None:
            copies.append(copy)
    return copies


TRACKING_STATUS = {
    "delivered": Status.DELIVERED,
    "bounced": Status.BOUNCED,
    "rejected": Status.BOUNCED,
    "failed": Status.BOUNCED,
    "complained": Status.BOUNCED,
}


@transaction.atomic
def notification_tracking_update(
    *, provider_message_id: str, event_type: str, description: str = "", at: datetime.datetime | None = None
) -> int:
    """Apply an ESP tracking event (anymail ``tracking`` signal) to the rows it names; returns rows changed."""
    status = TRACKING_STATUS.get(event_type)
    if status is None or not provider_message_id:
        return 0
    at = at or timezone.now()
    rows = NotificationLog.objects.filter(
        channel=Channel.EMAIL, provider_message_id=provider_message_id, status__in=[Status.SENT, Status.DELIVERED]
    )
    if status == Status.DELIVERED:
        return rows.filter(status=Status.SENT).update(
            status=Status.DELIVERED, delivered_at=at, updated_at=timezone.now()
        )
    return rows.update(status=Status.BOUNCED, error=(description or event_type)[:2000], updated_at=timezone.now())


def notification_send_test(
    *, organization: Organization, user, channels: Iterable[str] = (Channel.EMAIL,)
) -> list[NotificationLog]:
    """The "send me a test" button and command: a ``test`` notification to ``user`` only."""
    return notify(
        organization=organization,
        event_type="test",
        recipients=[user],
        channels=list(channels),
        context={"requested_at": timezone.now()},
        metadata={"test": True},
    )
