"""Every write of the scheduling app. Start here.

Booking (``appointment_book``) checks the slot in Python to give a precise reason
(``availability.slot_conflict``), then inserts; the exclusion constraint on ``Appointment``
settles the race between concurrent bookings — the loser's ``IntegrityError`` becomes
``SlotUnavailable`` ("slot no longer available"), never a 500.

Each lifecycle action (book, confirm, cancel, reschedule, complete, no-show) in one transaction:
changes the row, recomputes the contact's ``ClientMetrics`` and dispatches the ``appointment.*``
event. The event's listeners (``scheduling/listeners.py``) write the staff notifications and the
customer's message into the outbox inside the same transaction; deliveries run after the commit.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import audit
from accounts.limits import plan_limit_check, usage_increment
from accounts.models import Membership, Organization
from conversations import services as contact_services
from conversations.models import Contact, normalize_phone
from pytake.events import Event, dispatch
from scheduling import availability, selectors
from scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    ClientMetrics,
    DateOverride,
    ReminderOccurrence,
    SchedulingSettings,
    Service,
    ServiceCategory,
    TimeOff,
    WorkingHours,
)

logger = logging.getLogger(__name__)

SLOT_TAKEN_MESSAGE = gettext_lazy("Sorry, this slot is no longer available. Please choose another time.")


class SchedulingError(Exception):
    """A booking or change that cannot be made; ``message`` is for the person who asked."""

    code = "error"

    def __init__(self, message, *, code: str | None = None):
        super().__init__(str(message))
        self.message = str(message)
        if code:
            self.code = code


class SlotUnavailable(SchedulingError):
    code = "slot_unavailable"


class PlanLimitReached(SchedulingError):
    code = "plan_limit"


class ChangeNotAllowed(SchedulingError):
    code = "change_not_allowed"


# --- Settings, catalogue and schedules ------------------------------------------------------


@transaction.atomic
def scheduling_settings_ensure(*, organization: Organization) -> SchedulingSettings:
    rules, _created = SchedulingSettings.objects.get_or_create(organization=organization)
    return rules


@transaction.atomic
def scheduling_settings_update(*, organization: Organization, **fields) -> SchedulingSettings:
    rules = scheduling_settings_ensure(organization=organization)
    for name, value in fields.items():
        setattr(rules, name, value)
    rules.full_clean()
    rules.save()
    return rules


@transaction.atomic
def service_category_create(*, organization: Organization, name: str, position: int = 0) -> ServiceCategory:
    category = ServiceCategory(organization=organization, name=name.strip(), position=position)
    category.full_clean()
    category.save()
    return category


@transaction.atomic
def service_create(
    *,
    organization: Organization,
    name: str,
    duration_minutes: int,
    price: Decimal | int | str = 0,
    description: str = "",
    category: ServiceCategory | None = None,
    buffer_before_minutes: int = 0,
    buffer_after_minutes: int = 0,
    providers: list[Membership] | tuple = (),
    is_active: bool = True,
) -> Service:
    service = Service(
        organization=organization,
        name=name.strip(),
        duration_minutes=duration_minutes,
        price=Decimal(str(price)),
        description=description,
        category=category,
        buffer_before_minutes=buffer_before_minutes,
        buffer_after_minutes=buffer_after_minutes,
        is_active=is_active,
    )
    service.full_clean()
    service.save()
    for membership in providers:
        if membership.organization_id != organization.pk:
            raise ValidationError(_("The provider belongs to another organization."))
    service.providers.set(providers)
    return service


@transaction.atomic
def working_hours_set(
    *, provider: Membership, weekday: int, windows: list[tuple[datetime.time, datetime.time]]
) -> list[WorkingHours]:
    """Replace ``provider``'s windows on ``weekday`` (organization time zone); windows may not overlap."""
    ordered = sorted(windows)
    for (_s1, e1), (s2, _e2) in zip(ordered, ordered[1:], strict=False):
        if s2 < e1:
            raise ValidationError(_("Working hours windows of one day may not overlap."))
    WorkingHours.objects.filter(organization_id=provider.organization_id, provider=provider, weekday=weekday).delete()
    rows = []
    for start, end in ordered:
        row = WorkingHours(
            organization_id=provider.organization_id, provider=provider, weekday=weekday, start=start, end=end
        )
        row.full_clean()
        row.save()
        rows.append(row)
    return rows


@transaction.atomic
def time_off_add(
    *, provider: Membership, start: datetime.datetime, end: datetime.datetime, reason: str = ""
) -> TimeOff:
    row = TimeOff(organization_id=provider.organization_id, provider=provider, start=start, end=end, reason=reason)
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def date_override_add(
    *,
    provider: Membership,
    date: datetime.date,
    start: datetime.time | None = None,
    end: datetime.time | None = None,
) -> DateOverride:
    """A window replacing the weekly hours on ``date``; without times, a day off."""
    row = DateOverride(organization_id=provider.organization_id, provider=provider, date=date, start=start, end=end)
    row.full_clean()
    row.save()
    return row


# --- Appointments ---------------------------------------------------------------------------


def _check_plan_limit(organization: Organization) -> None:
    """The plan's appointments a month (``accounts.limits``, organization row locked until the commit)."""
    try:
        plan_limit_check(organization=organization, resource="appointments")
    except ValidationError as error:
        raise PlanLimitReached(error.messages[0]) from error


def _insert(appointment: Appointment) -> None:
    """Insert, turning the exclusion constraint's refusal into ``SlotUnavailable``."""
    try:
        with transaction.atomic():
            appointment.save(force_insert=True)
    except IntegrityError as error:
        if "scheduling_appointment_no_overlap" in str(error):
            raise SlotUnavailable(SLOT_TAKEN_MESSAGE, code="slot_taken") from error
        raise


def _book_with(
    *,
    organization,
    service,
    membership,
    start,
    contact,
    customer,
    notes,
    source,
    enforce_window,
    rescheduled_from=None,
    status=AppointmentStatus.PENDING,
) -> Appointment:
    conflict = availability.slot_conflict(
        organization=organization,
        service=service,
        provider=membership,
        start=start,
        enforce_booking_window=enforce_window,
    )
    if conflict is not None:
        if conflict.reason == availability.ConflictReason.OVERLAP:
            raise SlotUnavailable(SLOT_TAKEN_MESSAGE, code="slot_taken")
        raise SlotUnavailable(conflict.message, code=conflict.reason)
    occupied_from, end, occupied_until = availability.occupied_range(service, start)
    appointment = Appointment(
        organization=organization,
        service=service,
        provider_id=membership.user_id,
        contact=contact,
        customer_name=customer["name"],
        customer_email=customer["email"],
        customer_phone=customer["phone"],
        start=start,
        end=end,
        occupied_from=occupied_from,
        occupied_until=occupied_until,
        price=service.price,
        notes=notes,
        source=source,
        rescheduled_from=rescheduled_from,
        status=status,
        confirmed_at=timezone.now() if status == AppointmentStatus.CONFIRMED else None,
    )
    _insert(appointment)
    return appointment


def _emit(name: str, appointment: Appointment, **extra) -> None:
    dispatch(
        Event(
            name,
            appointment.organization_id,
            {
                "appointment_id": appointment.pk,
                "provider_id": appointment.provider_id,
                "contact_id": appointment.contact_id,
                **extra,
            },
        )
    )


@transaction.atomic
def appointment_book(
    *,
    organization: Organization,
    service: Service,
    provider: Membership | None,
    start: datetime.datetime,
    customer_name: str,
    customer_phone: str,
    customer_email: str = "",
    notes: str = "",
    source: str = AppointmentSource.STAFF,
    confirm: bool = False,
) -> Appointment:
    """Book ``service`` at ``start`` with ``provider`` (``None``: the first free provider).

    The contact is found or created by phone. Public bookings respect the minimum notice and the
    horizon; all respect hours, time off, holidays and other appointments. Raises
    ``SlotUnavailable`` (with the reason), ``PlanLimitReached`` or ``ValidationError``.
    """
    if service.organization_id != organization.pk:
        raise ValidationError(_("The service belongs to another organization."))
    if provider is not None and provider.organization_id != organization.pk:
        raise ValidationError(_("The provider belongs to another organization."))
    if source not in AppointmentSource.values:
        raise ValidationError(_("Unknown booking source: %(source)s") % {"source": source})
    if timezone.is_naive(start):
        raise ValidationError(_("The start time needs a time zone."))
    customer_name = customer_name.strip()
    if not customer_name:
        raise ValidationError({"customer_name": _("Enter your name.")})
    phone = normalize_phone(customer_phone)
    email = customer_email.strip().lower()
    if email:
        validate_email(email)
    _check_plan_limit(organization)
    contact, _created = contact_services.contact_get_or_create_by_phone(
        organization=organization, phone=phone, name=customer_name
    )
    customer = {"name": customer_name, "phone": phone, "email": email}
    enforce = source == AppointmentSource.PUBLIC
    candidates = (
        [provider] if provider is not None else availability.providers_for(organization=organization, service=service)
    )
    if not candidates:
        raise SlotUnavailable(
            availability.CONFLICT_MESSAGES[availability.ConflictReason.NOT_OFFERED], code="no_provider"
        )
    status = AppointmentStatus.CONFIRMED if confirm else AppointmentStatus.PENDING
    last_error: SlotUnavailable | None = None
    for membership in candidates:
        try:
            appointment = _book_with(
                organization=organization,
                service=service,
                membership=membership,
                start=start,
                contact=contact,
                customer=customer,
                notes=notes.strip(),
                source=source,
                enforce_window=enforce,
                status=status,
            )
            break
        except SlotUnavailable as error:
            last_error = error
    else:
        raise last_error  # type: ignore[misc]
    if email and not contact.email:
        contact_services.contact_update(contact=contact, email=email)
    usage_increment(organization=organization, field="appointments_created")
    client_metrics_refresh(organization=organization, contact=contact)
    _emit("appointment.created", appointment)
    if confirm:
        _emit("appointment.confirmed", appointment, at_booking=True)
    return appointment


def _locked(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update()
        .select_related("organization", "service", "provider", "contact")
        .get(pk=appointment.pk)
    )


ALLOWED = {
    "confirm": {AppointmentStatus.PENDING},
    "cancel": {AppointmentStatus.PENDING, AppointmentStatus.CONFIRMED},
    "reschedule": {AppointmentStatus.PENDING, AppointmentStatus.CONFIRMED},
    "complete": {AppointmentStatus.PENDING, AppointmentStatus.CONFIRMED, AppointmentStatus.NO_SHOW},
    "no_show": {AppointmentStatus.PENDING, AppointmentStatus.CONFIRMED},
}


def _require(appointment: Appointment, action: str) -> None:
    if appointment.status not in ALLOWED[action]:
        raise ChangeNotAllowed(
            _("A %(status)s appointment cannot be changed this way.")
            % {"status": appointment.get_status_display().lower()}
        )


def _require_change_notice(appointment: Appointment) -> None:
    rules = availability.settings_for(appointment.organization)
    if appointment.start - timezone.now() < datetime.timedelta(minutes=rules.change_notice_minutes):
        hours = rules.change_notice_minutes / 60
        raise ChangeNotAllowed(
            _("Changes must be made at least %(hours)s hours before the appointment. Please contact %(org)s.")
            % {"hours": f"{hours:g}", "org": appointment.organization.name}
        )


def _audit(action: str, appointment: Appointment, *, by, previous_status: str, by_customer: bool = False, **extra):
    """Staff actions are recorded with their actor; a customer's (signed link) with none and ``by_customer``."""
    if by is None and not by_customer:
        return
    audit.record(
        organization=appointment.organization_id,
        actor=by,
        action=action,
        obj=appointment,
        changes=audit.diff({"status": previous_status}, {"status": appointment.status}),
        metadata={"by_customer": True, **extra} if by_customer else extra or None,
    )


@transaction.atomic
def appointment_confirm(*, appointment: Appointment, by=None, via: str = "") -> Appointment:
    """Confirm; ``via`` names where the customer did it (``"whatsapp_button"``: they were answered there)."""
    appointment = _locked(appointment)
    _require(appointment, "confirm")
    previous_status = appointment.status
    appointment.status = AppointmentStatus.CONFIRMED
    appointment.confirmed_at = timezone.now()
    appointment.save(update_fields=["status", "confirmed_at", "updated_at"])
    client_metrics_refresh(organization=appointment.organization, contact=appointment.contact)
    _emit("appointment.confirmed", appointment, by_id=getattr(by, "pk", None), via=via)
    _audit("appointment.confirmed", appointment, by=by, previous_status=previous_status)
    return appointment


@transaction.atomic
def appointment_cancel(
    *, appointment: Appointment, reason: str = "", by=None, by_customer: bool = False, via: str = ""
) -> Appointment:
    """Cancel; a customer (``by_customer``) must respect the organization's change notice.

    ``via`` names where the customer did it (``"whatsapp_button"``: they were answered there)."""
    appointment = _locked(appointment)
    _require(appointment, "cancel")
    if by_customer:
        _require_change_notice(appointment)
    previous_status = appointment.status
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = timezone.now()
    appointment.cancellation_reason = reason.strip()[:255]
    appointment.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
    client_metrics_refresh(organization=appointment.organization, contact=appointment.contact)
    _emit("appointment.cancelled", appointment, by_customer=by_customer, by_id=getattr(by, "pk", None), via=via)
    _audit(
        "appointment.cancelled",
        appointment,
        by=by,
        previous_status=previous_status,
        by_customer=by_customer,
        reason=appointment.cancellation_reason,
    )
    return appointment


@transaction.atomic
def appointment_reschedule(
    *,
    appointment: Appointment,
    start: datetime.datetime,
    provider: Membership | None = None,
    by=None,
    by_customer: bool = False,
) -> Appointment:
    """Move to ``start``: a new appointment (``rescheduled_from`` the old one, which is cancelled).

    The old row is cancelled first inside this transaction so that the new one may take an
    overlapping time (e.g. 30 minutes later); if the new slot is taken, everything rolls back.
    """
    old = _locked(appointment)
    _require(old, "reschedule")
    if by_customer:
        _require_change_notice(old)
    organization = old.organization
    if provider is None:
        provider = Membership.objects.for_organization(organization).filter(user_id=old.provider_id).first()
    elif provider.organization_id != organization.pk:
        raise ValidationError(_("The provider belongs to another organization."))
    previous_status = old.status
    old.status = AppointmentStatus.CANCELLED
    old.cancelled_at = timezone.now()
    old.cancellation_reason = _("Rescheduled")
    old.save(update_fields=["status", "cancelled_at", "cancellation_reason", "updated_at"])
    new = _book_with(
        organization=organization,
        service=old.service,
        membership=provider,
        start=start,
        contact=old.contact,
        customer={"name": old.customer_name, "phone": old.customer_phone, "email": old.customer_email},
        notes=old.notes,
        source=old.source,
        enforce_window=by_customer,
        rescheduled_from=old,
        status=previous_status,
    )
    new.internal_notes = old.internal_notes
    new.save(update_fields=["internal_notes"])
    client_metrics_refresh(organization=organization, contact=old.contact)
    _emit(
        "appointment.rescheduled",
        new,
        previous_appointment_id=old.pk,
        by_customer=by_customer,
        by_id=getattr(by, "pk", None),
    )
    _audit(
        "appointment.rescheduled",
        old,
        by=by,
        previous_status=previous_status,
        by_customer=by_customer,
        new_appointment_id=new.pk,
        start=[old.start, new.start],
    )
    return new


@transaction.atomic
def appointment_complete(*, appointment: Appointment, by=None) -> Appointment:
    appointment = _locked(appointment)
    _require(appointment, "complete")
    if appointment.start > timezone.now():
        raise ChangeNotAllowed(_("An appointment can only be completed once it has started."))
    previous_status = appointment.status
    appointment.status = AppointmentStatus.COMPLETED
    appointment.completed_at = timezone.now()
    appointment.save(update_fields=["status", "completed_at", "updated_at"])
    client_metrics_refresh(organization=appointment.organization, contact=appointment.contact)
    _emit("appointment.completed", appointment, by_id=getattr(by, "pk", None))
    _audit("appointment.completed", appointment, by=by, previous_status=previous_status)
    return appointment


@transaction.atomic
def appointment_mark_no_show(*, appointment: Appointment, by=None) -> Appointment:
    appointment = _locked(appointment)
    _require(appointment, "no_show")
    if appointment.start > timezone.now():
        raise ChangeNotAllowed(_("A client can only be marked as a no-show once the appointment has started."))
    previous_status = appointment.status
    appointment.status = AppointmentStatus.NO_SHOW
    appointment.save(update_fields=["status", "updated_at"])
    client_metrics_refresh(organization=appointment.organization, contact=appointment.contact)
    _emit("appointment.no_show", appointment, by_id=getattr(by, "pk", None))
    _audit("appointment.no_show", appointment, by=by, previous_status=previous_status)
    return appointment


@transaction.atomic
def appointment_update_notes(*, appointment: Appointment, internal_notes: str, by=None) -> Appointment:
    previous = appointment.internal_notes
    appointment.internal_notes = internal_notes
    appointment.save(update_fields=["internal_notes", "updated_at"])
    if by is not None and previous != internal_notes:
        audit.record(
            organization=appointment.organization_id,
            actor=by,
            action="appointment.notes_updated",
            obj=appointment,
            changes={"internal_notes": [previous, internal_notes]},
        )
    return appointment


# --- Client metrics -------------------------------------------------------------------------


METRICS_STALE_AFTER = datetime.timedelta(hours=20)


def client_metrics_stale(*, now: datetime.datetime):
    """Metrics whose time-dependent fields may have changed since their last refresh: an upcoming
    appointment may have passed, a month may have turned, visits may have left the 365-day window."""
    from django.db.models import Q

    return ClientMetrics.objects.filter(
        Q(upcoming_appointments__gt=0)
        | Q(appointments_this_month__gt=0)
        | Q(appointments_last_month__gt=0)
        | Q(frequency_score__gt=0),
        updated_at__lt=now - METRICS_STALE_AFTER,
    ).order_by("pk")


def client_metrics_refresh_stale(*, now: datetime.datetime | None = None, batch_size: int = 500) -> int:
    """Refresh every stale client's metrics (Beat, daily); each client in its own transaction. Returns how many."""
    now = now or timezone.now()
    refreshed, after = 0, 0
    while True:  # walks by primary key: each client once per run, whatever its refresh writes
        batch = list(
            client_metrics_stale(now=now).filter(pk__gt=after).select_related("organization", "contact")[:batch_size]
        )
        for metrics in batch:
            client_metrics_refresh(organization=metrics.organization, contact=metrics.contact, now=now)
        refreshed += len(batch)
        if len(batch) < batch_size:
            return refreshed
        after = batch[-1].pk


def _top(counter: Counter, n: int = 3) -> list:
    return [key for key, _count in sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))[:n]]


@transaction.atomic
def client_metrics_refresh(
    *, organization: Organization, contact: Contact, now: datetime.datetime | None = None
) -> ClientMetrics:
    """Recompute the seed's client metrics from the contact's appointments.

    - totals by outcome; a cancelled appointment that was rescheduled counts as "rescheduled",
      not as cancelled, and is not a separate appointment in the total;
    - first/last appointment: earliest and latest start that was not cancelled;
    - frequency score (0–100): completed visits in the last 365 days, 12 or more = 100;
    - average days between completed visits (None with fewer than two);
    - preferred services (top 3 by count), days (weekday numbers 0=Monday) and times ("HH:00",
      organization time zone), from appointments that were not cancelled;
    - total spent and average ticket over completed appointments (price at booking).
    """
    now = now or timezone.now()
    tz = organization.tzinfo
    rows = list(
        Appointment.objects.filter(organization=organization, contact=contact)
        .annotate(successors=Count("rescheduled_to"))
        .values("status", "start", "price", "service_id", "service__name", "successors")
        .order_by("start")
    )
    metrics, _created = ClientMetrics.objects.select_for_update().get_or_create(
        organization=organization, contact=contact
    )
    kept = [r for r in rows if not (r["status"] == AppointmentStatus.CANCELLED and r["successors"])]
    live = [r for r in kept if r["status"] != AppointmentStatus.CANCELLED]
    completed = [r for r in kept if r["status"] == AppointmentStatus.COMPLETED]
    metrics.total_appointments = len(kept)
    metrics.rescheduled_appointments = len(rows) - len(kept)
    metrics.completed_appointments = len(completed)
    metrics.cancelled_appointments = sum(1 for r in kept if r["status"] == AppointmentStatus.CANCELLED)
    metrics.no_show_appointments = sum(1 for r in kept if r["status"] == AppointmentStatus.NO_SHOW)
    metrics.upcoming_appointments = sum(1 for r in kept if r["status"] in ACTIVE_STATUSES and r["start"] > now)
    metrics.first_appointment_at = live[0]["start"] if live else None
    metrics.last_appointment_at = live[-1]["start"] if live else None
    first, following = selectors.month_bounds(organization, now)
    previous_first, _this_first = selectors.month_bounds(organization, first - datetime.timedelta(days=1))
    metrics.appointments_this_month = sum(1 for r in live if first <= r["start"] < following)
    metrics.appointments_last_month = sum(1 for r in live if previous_first <= r["start"] < first)
    recent = sum(1 for r in completed if now - datetime.timedelta(days=365) <= r["start"] <= now)
    metrics.frequency_score = round(min(100.0, recent * 100.0 / 12), 1)
    gaps = [(b["start"] - a["start"]).total_seconds() / 86400 for a, b in zip(completed, completed[1:], strict=False)]
    metrics.average_days_between = round(sum(gaps) / len(gaps), 1) if gaps else None
    services = Counter((r["service_id"], r["service__name"]) for r in live)
    metrics.preferred_services = [{"id": sid, "name": name} for sid, name in _top(services)]
    metrics.preferred_days = _top(Counter(r["start"].astimezone(tz).weekday() for r in live))
    metrics.preferred_times = _top(Counter(f"{r['start'].astimezone(tz).hour:02d}:00" for r in live))
    metrics.total_spent = sum((r["price"] for r in completed), Decimal("0"))
    metrics.average_ticket = (
        (metrics.total_spent / len(completed)).quantize(Decimal("0.01")) if completed else Decimal("0")
    )
    metrics.save()
    return metrics


# --- Reminders ------------------------------------------------------------------------------


def reminder_offsets(organization_id: int, cache: dict) -> list[int]:
    if organization_id not in cache:
        rules = (
            SchedulingSettings.objects.filter(organization_id=organization_id)
            .values_list("reminder_offsets_minutes", flat=True)
            .first()
        )
        cache[organization_id] = (
            list(rules)
            if rules is not None
            else list(SchedulingSettings._meta.get_field("reminder_offsets_minutes").default())
        )
    return cache[organization_id]


def reminders_send_due(*, now: datetime.datetime | None = None, limit: int = 1000) -> int:
    """Send every reminder that is due now; returns how many this run sent.

    Due: an active appointment starts within one of its organization's offsets, the offset's
    moment has come, and the booking was made before that moment (a booking made 30 minutes
    ahead gets no 24-hour reminder). Each (appointment, offset) is claimed by inserting its
    ``ReminderOccurrence`` row with ``ON CONFLICT DO NOTHING``: of two overlapping runs only the one
    that inserted dispatches ``appointment.reminder`` (whose listeners write the customer's message
    and the provider's notification into the outbox).
    """
    now = now or timezone.now()
    all_offsets = [
        off for offs in SchedulingSettings.objects.values_list("reminder_offsets_minutes", flat=True) for off in offs
    ]
    horizon = max([*all_offsets, *SchedulingSettings._meta.get_field("reminder_offsets_minutes").default()])
    due = (
        Appointment.objects.filter(
            status__in=ACTIVE_STATUSES, start__gt=now, start__lte=now + datetime.timedelta(minutes=horizon)
        )
        .select_related("organization", "service", "provider", "contact")
        .order_by("start")[:limit]
    )
    cache: dict = {}
    sent = 0
    for appointment in due:
        for offset in sorted(reminder_offsets(appointment.organization_id, cache)):
            moment = appointment.start - datetime.timedelta(minutes=offset)
            if moment > now or appointment.created_at > moment:
                continue
            # The 24-hour reminder is pointless once the 1-hour one is due.
            smaller = [o for o in reminder_offsets(appointment.organization_id, cache) if o < offset]
            if any(
                appointment.start - datetime.timedelta(minutes=o) <= now
                and appointment.created_at <= appointment.start - datetime.timedelta(minutes=o)
                for o in smaller
            ):
                continue
            if _reminder_raise(appointment, offset_minutes=offset):
                sent += 1
    return sent


@transaction.atomic
def _reminder_raise(appointment: Appointment, *, offset_minutes: int) -> bool:
    """Claim the reminder ``offset_minutes`` before and dispatch it; ``False`` if another run did."""
    table = ReminderOccurrence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("appointment_id", "offset_minutes", "raised_at") VALUES (%s, %s, %s) '  # noqa: S608
            'ON CONFLICT ("appointment_id", "offset_minutes") DO NOTHING RETURNING "id"',
            [appointment.pk, offset_minutes, timezone.now()],
        )
        if cursor.fetchone() is None:
            return False
    _emit("appointment.reminder", appointment, offset_minutes=offset_minutes)
    return True
