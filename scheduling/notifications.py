"""Who hears about an appointment, and how. The only place to change when notifications change.

Staff (the provider) are notified through ``notifications.services.notify`` — their
preferences, quiet hours and channels apply, and a dedupe key per (appointment, occurrence)
makes a repeated call harmless.

Customers are contacts, not users, and ``notify`` only takes users; so the customer's email
(with the ``.ics`` attached) is an ``AppointmentNotification`` row written in the action's
transaction with ``INSERT … ON CONFLICT DO NOTHING`` on (appointment, key), delivered by a Celery
task after the commit through Django's email backend (django-anymail configured). The task
claims the row with ``UPDATE … WHERE status='pending'`` before sending, so each message goes
once; the reminder job relays rows whose task was lost. When ``notify`` learns to address
contacts, ``_queue_customer_email`` is the function to replace.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Membership
from accounts.roles import Role
from scheduling import ics, links
from scheduling.models import Appointment, AppointmentNotification, DeliveryStatus, NotificationKind

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_SECONDS = (30, 300, 1800)


# --- Staff ------------------------------------------------------------------------------------


def _local(appointment: Appointment, moment: datetime.datetime) -> datetime.datetime:
    """A naive wall-clock time of the organization: templates print it as is."""
    return moment.astimezone(appointment.organization.tzinfo).replace(tzinfo=None)


def _staff_context(appointment: Appointment, **extra) -> dict:
    local_day = appointment.start.astimezone(appointment.organization.tzinfo).date()
    return {
        "service_name": appointment.service.name,
        "contact_name": appointment.customer_name,
        "provider_name": appointment.provider.get_full_name(),
        "starts_at": _local(appointment, appointment.start),
        "appointment_url": settings.SITE_URL.rstrip("/")
        + reverse("scheduling:calendar")
        + f"?date={local_day.isoformat()}",
        **extra,
    }


def _notify_staff(
    appointment: Appointment, event_type: str, occurrence: str, *, exclude_user=None, users=None, **extra
) -> None:
    from notifications.services import notify

    recipients = [
        u
        for u in (users or [appointment.provider])
        if u is not None and (exclude_user is None or u.pk != exclude_user.pk)
    ]
    if not recipients:
        return
    notify(
        organization=appointment.organization,
        event_type=event_type,
        recipients=recipients,
        context=_staff_context(appointment, **extra),
        dedupe_key=f"appointment-{appointment.pk}:{occurrence}",
        metadata={"appointment_id": appointment.pk, "contact_id": appointment.contact_id},
    )


# --- Customers --------------------------------------------------------------------------------


def _queue_customer_email(appointment: Appointment, *, kind: str, key: str) -> int | None:
    """Write the customer's message row once per (appointment, key); returns its id if this call wrote it."""
    status = DeliveryStatus.PENDING if appointment.customer_email else DeliveryStatus.SKIPPED
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {AppointmentNotification._meta.db_table}
                (organization_id, appointment_id, kind, key, recipient, status, attempts, error, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, 0, '', %s)
            ON CONFLICT (appointment_id, key) DO NOTHING
            RETURNING id
            """,
            [
                appointment.organization_id,
                appointment.pk,
                kind,
                key,
                appointment.customer_email,
                status,
                timezone.now(),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if status == DeliveryStatus.PENDING:
        notification_id = row[0]
        transaction.on_commit(lambda: _enqueue(notification_id), robust=True)
    return row[0]


def _enqueue(notification_id: int, countdown: float | None = None) -> None:
    from scheduling.tasks import deliver_customer_notification

    try:
        deliver_customer_notification.apply_async(args=[notification_id], countdown=countdown)
    except Exception:
        logger.exception("could not queue customer notification %s; the relay will", notification_id)


def _email_context(appointment: Appointment, notification: AppointmentNotification) -> dict:
    manage = links.manage_url(appointment)
    offset = notification.key.split(":", 1)[1] if notification.key.startswith("reminder:") else ""
    hours = int(offset) / 60 if offset else None
    return {
        "appointment": appointment,
        "organization": appointment.organization,
        "service": appointment.service,
        "provider_name": appointment.provider.get_full_name(),
        "starts_at": _local(appointment, appointment.start),
        "ends_at": _local(appointment, appointment.end),
        "time_zone": appointment.organization.time_zone,
        "manage_url": manage,
        "book_url": settings.SITE_URL.rstrip("/") + reverse("scheduling:book", args=[appointment.organization.slug]),
        "google_url": ics.google_calendar_url(appointment, manage_url=manage),
        "outlook_url": ics.outlook_calendar_url(appointment, manage_url=manage),
        "previous": appointment.rescheduled_from,
        "previous_starts_at": _local(appointment, appointment.rescheduled_from.start)
        if appointment.rescheduled_from_id
        else None,
        "reminder_hours": f"{hours:g}" if hours is not None else "",
        "kind": notification.kind,
    }


def build_customer_email(notification: AppointmentNotification) -> EmailMultiAlternatives:
    appointment = Appointment.objects.select_related("organization", "service", "provider", "rescheduled_from").get(
        pk=notification.appointment_id
    )
    context = _email_context(appointment, notification)
    base = f"scheduling/email/{notification.kind}"
    with translation.override(appointment.organization.locale):
        subject = " ".join(render_to_string(f"{base}.subject.txt", context).split())[:200]
        text = render_to_string(f"{base}.txt", context).strip()
        html = render_to_string(f"{base}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[notification.recipient],
        headers={"Message-ID": f"<appointment-notification-{notification.pk}@pytake>"},
    )
    message.attach_alternative(html, "text/html")
    if notification.kind != NotificationKind.FOLLOW_UP:
        cancelled = notification.kind == NotificationKind.CANCELLATION
        method = "CANCEL" if cancelled else "REQUEST"
        message.attach(
            "appointment.ics",
            ics.appointment_ics(appointment, manage_url=context["manage_url"], cancelled=cancelled),
            f"text/calendar; method={method}; charset=utf-8",
        )
    return message


def deliver(*, notification_id: int) -> float | None:
    """Send one customer message if this call can claim it; returns a retry delay after a failure."""
    claimed = AppointmentNotification.objects.filter(pk=notification_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()
    )
    if not claimed:
        return None
    notification = AppointmentNotification.objects.get(pk=notification_id)
    try:
        build_customer_email(notification).send()
    except Exception as error:  # any transport failure: retried, then failed with the error
        logger.warning("customer notification %s failed: %s", notification_id, error)
        final = notification.attempts >= MAX_ATTEMPTS
        AppointmentNotification.objects.filter(pk=notification_id).update(
            status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
            error=f"{type(error).__name__}: {error}"[:2000],
        )
        return None if final else float(RETRY_SECONDS[notification.attempts - 1])
    AppointmentNotification.objects.filter(pk=notification_id).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), error=""
    )
    return None


def relay(*, older_than_seconds: int, stuck_after_seconds: int) -> int:
    now = timezone.now()
    AppointmentNotification.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - datetime.timedelta(seconds=stuck_after_seconds)
    ).update(status=DeliveryStatus.PENDING)
    ids = list(
        AppointmentNotification.objects.filter(
            Q(claimed_at__isnull=True)
            | Q(claimed_at__lt=now - datetime.timedelta(seconds=RETRY_SECONDS[-1] + older_than_seconds)),
            status=DeliveryStatus.PENDING,
            created_at__lt=now - datetime.timedelta(seconds=older_than_seconds),
        ).values_list("pk", flat=True)[:500]
    )
    for notification_id in ids:
        _enqueue(notification_id)
    return len(ids)


# --- Lifecycle hooks (called by scheduling.services inside the action's transaction) ----------


def _admins(appointment: Appointment) -> list:
    return [
        m.user
        for m in Membership.objects.for_organization(appointment.organization)
        .filter(role=Role.ORG_ADMIN)
        .select_related("user")
    ]


def on_booked(appointment: Appointment) -> None:
    _notify_staff(appointment, "appointment_created", "created")
    _queue_customer_email(appointment, kind=NotificationKind.CONFIRMATION, key="booked")


def on_confirmed(appointment: Appointment) -> None:
    _queue_customer_email(appointment, kind=NotificationKind.CONFIRMATION, key="confirmed")


def on_cancelled(appointment: Appointment, *, by=None, by_customer: bool = False) -> None:
    _notify_staff(
        appointment, "appointment_cancelled", "cancelled", exclude_user=by, reason=appointment.cancellation_reason
    )
    _queue_customer_email(appointment, kind=NotificationKind.CANCELLATION, key="cancelled")


def on_rescheduled(appointment: Appointment, *, previous: Appointment, by=None, by_customer: bool = False) -> None:
    users = [appointment.provider] + ([previous.provider] if previous.provider_id != appointment.provider_id else [])
    _notify_staff(appointment, "appointment_rescheduled", "rescheduled", exclude_user=by, users=users)
    _queue_customer_email(appointment, kind=NotificationKind.RESCHEDULE, key="rescheduled")


def on_completed(appointment: Appointment) -> None:
    _queue_customer_email(appointment, kind=NotificationKind.FOLLOW_UP, key="follow_up")


def on_no_show(appointment: Appointment) -> None:
    _notify_staff(appointment, "appointment_no_show", "no_show", users=_admins(appointment))


def on_reminder_due(appointment: Appointment, *, offset_minutes: int) -> bool:
    """Claim and send the reminder ``offset_minutes`` before; ``False`` if another run already did."""
    claimed = _queue_customer_email(appointment, kind=NotificationKind.REMINDER, key=f"reminder:{offset_minutes}")
    if claimed is None:
        return False
    _notify_staff(appointment, "appointment_reminder", f"reminder:{offset_minutes}")
    return True
