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
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from accounts.models import Membership, Organization
from notifications import decisions, selectors
from notifications.adapters import user_group_name
from notifications.models import (
    COUNTED_STATUSES,
    NotificationLog,
    NotificationPreference,
    OrganizationNotificationSettings,
    Status,
)
from notifications.registry import INTERRUPTING_CHANNELS, PHONE_CHANNELS, Channel, EventType, event_type_get
from notifications.services.preferences import _preference_from_defaults, organization_settings_ensure
from notifications.services.publish import _enqueue_on_commit

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


@dataclass(frozen=True)
class NotifyItem:
    """One occurrence to notify (an SLA breach of one conversation): who, with what, under which key."""

    recipients: Iterable
    context: dict | None = None
    dedupe_key: str | None = None
    metadata: dict | None = None
    urgent: bool = False


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
    item = NotifyItem(recipients, context, dedupe_key, metadata, urgent)
    return notify_many(organization=organization, event_type=event_type, items=[item], channels=channels)


def notify_many(
    *,
    organization: Organization,
    event_type: str,
    items: list[NotifyItem],
    channels: Iterable[str] | None = None,
) -> list[NotificationLog]:
    """``notify`` for many occurrences of one event type at once (a sweep's batch).

    The same decisions, one row per item × recipient × channel, but in a fixed number of queries
    for the whole batch: one dedupe lookup, one load of preferences and hourly counts, one INSERT.
    Hourly limits count the batch's own earlier rows, as consecutive ``notify`` calls would.
    """
    event = event_type_get(event_type)
    if event.audience != "staff":
        raise ValueError(f"{event_type!r} is a message to contacts: write it with outbox_enqueue()")
    wanted = list(event.channels if channels is None else channels)
    for channel in wanted:
        if channel not in Channel.values:
            raise ValueError(f"unknown channel {channel!r}")
    now = timezone.now()
    plans = []  # (item, users, base_key, urgent)
    for item in items:
        users = list({u.pk: u for u in item.recipients}.values())
        if users:
            plans.append((item, users, item.dedupe_key or uuid.uuid4().hex, bool(item.urgent and event.urgent_capable)))
    if not plans:
        return []

    with transaction.atomic():
        keys = {
            (index, u.pk, c): f"{organization.pk}:{event.name}:{base_key}:{u.pk}:{c}"[:200]
            for index, (_item, users, base_key, _urgent) in enumerate(plans)
            for u in users
            for c in wanted
        }
        existing = {
            log.dedupe_key: log
            for log in NotificationLog.objects.for_organization(organization).filter(dedupe_key__in=set(keys.values()))
        }
        if len(existing) == len(set(keys.values())):
            return sorted(existing.values(), key=lambda log: log.pk)
        everyone = list({u.pk: u for _item, users, _key, _urgent in plans for u in users}.values())
        facts = _load_facts(organization=organization, users=everyone, now=now)
        rows: list[NotificationLog] = []
        written: set[str] = set()
        for index, (item, users, _base_key, urgent) in enumerate(plans):
            for user in users:
                todo = [
                    c
                    for c in wanted
                    if keys[(index, user.pk, c)] not in existing and keys[(index, user.pk, c)] not in written
                ]
                if not todo:
                    continue
                subject, text, compact, html = _render(
                    event, user=user, organization=organization, context=item.context or {}
                )
                for channel in todo:
                    key = keys[(index, user.pk, channel)]
                    written.add(key)
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
                            error=str(REASON_TEXT.get(decision.reason, ""))
                            if decision.status == Status.SKIPPED
                            else "",
                            urgent=urgent,
                            scheduled_at=decision.scheduled_at or now,
                            enqueued_at=now if decision.status == Status.PENDING else None,
                            max_retries=settings.NOTIFICATIONS_MAX_RETRIES,
                            metadata=dict(item.metadata or {}),
                            dedupe_key=key,
                        )
                    )
        NotificationLog.objects.bulk_create(rows, batch_size=1000)
        _enqueue_on_commit([r.pk for r in rows if r.status == Status.PENDING])
    return sorted([*existing.values(), *rows], key=lambda log: log.pk)
