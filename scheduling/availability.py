"""Free slots and conflict detection.

Working hours, overrides and holidays are wall-clock times in the organization's time zone.
Each window is turned into two absolute instants (``datetime.combine(date, time, tzinfo=tz)``,
which on a spring-forward day maps a time in the gap to the instant after it) and candidate
starts are stepped by the slot interval in absolute time from the window's start. So a window
on a DST day has its real length (one hour less or more), a repeated wall-clock hour yields two
distinct slots, and no slot is lost or invented around a transition.

A candidate is free when the service fits in the window, it respects the minimum notice and the
booking horizon, and its occupied range (service plus buffers) overlaps no busy interval
(active appointments' occupied ranges and time off). Busy intervals are merged and searched
with ``bisect``: one query per provider for the whole range, O(log n) per candidate.
"""

from __future__ import annotations

import datetime
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holiday, Membership, Organization
from accounts.roles import Role
from scheduling.models import (
    Appointment,
    AppointmentStatus,
    DateOverride,
    SchedulingSettings,
    Service,
    TimeOff,
    WorkingHours,
)

UTC = datetime.UTC


class ConflictReason:
    SERVICE_INACTIVE = "service_inactive"
    NOT_OFFERED = "not_offered"
    TOO_SOON = "too_soon"
    TOO_FAR = "too_far"
    HOLIDAY = "holiday"
    OUTSIDE_HOURS = "outside_hours"
    TIME_OFF = "time_off"
    OVERLAP = "overlap"
    IN_PAST = "in_past"


CONFLICT_MESSAGES = {
    ConflictReason.SERVICE_INACTIVE: _("This service is not offered at the moment."),
    ConflictReason.NOT_OFFERED: _("This provider does not offer this service."),
    ConflictReason.TOO_SOON: _("This time is too soon: it needs more notice."),
    ConflictReason.TOO_FAR: _("This time is too far ahead to be booked yet."),
    ConflictReason.HOLIDAY: _("The organization is closed on this day (holiday)."),
    ConflictReason.OUTSIDE_HOURS: _("This time is outside the provider's working hours."),
    ConflictReason.TIME_OFF: _("The provider is away at this time."),
    ConflictReason.OVERLAP: _("The provider already has an appointment at this time."),
    ConflictReason.IN_PAST: _("This time is in the past."),
}


@dataclass(frozen=True)
class Conflict:
    reason: str

    @property
    def message(self) -> str:
        return str(CONFLICT_MESSAGES[self.reason])


class Slot(NamedTuple):
    start: datetime.datetime
    end: datetime.datetime
    provider_id: int  # Membership id
    provider_user_id: int


@dataclass
class _Busy:
    """Merged, sorted busy intervals: ``starts[i]`` < ``ends[i]`` <= ``starts[i+1]``."""

    starts: list[datetime.datetime] = field(default_factory=list)
    ends: list[datetime.datetime] = field(default_factory=list)

    @classmethod
    def from_intervals(cls, intervals) -> _Busy:
        busy = cls()
        for start, end in sorted(intervals):
            if busy.ends and start <= busy.ends[-1]:
                if end > busy.ends[-1]:
                    busy.ends[-1] = end
            else:
                busy.starts.append(start)
                busy.ends.append(end)
        return busy

    def overlaps(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        if not self.starts:
            return False
        index = bisect_right(self.starts, start) - 1
        if index >= 0 and self.ends[index] > start:
            return True
        index += 1
        return index < len(self.starts) and self.starts[index] < end


def settings_for(organization: Organization) -> SchedulingSettings:
    found = SchedulingSettings.objects.filter(organization=organization).first()
    return found if found is not None else SchedulingSettings(organization=organization)


def providers_for(*, organization: Organization, service: Service) -> list[Membership]:
    """Members who may perform ``service``: its listed providers, else every member with hours."""
    listed = list(service.providers.filter(organization=organization).select_related("user"))
    if listed:
        return sorted(listed, key=lambda m: m.pk)
    return list(
        Membership.objects.for_organization(organization)
        .filter(working_hours__isnull=False)
        .exclude(role=Role.VIEWER)
        .select_related("user")
        .distinct()
        .order_by("pk")
    )


@dataclass
class ProviderCalendar:
    """A provider's rules and busy time over a date range, loaded in a few queries."""

    membership: Membership
    weekly: dict[int, list[tuple[datetime.time, datetime.time]]]
    overrides: dict[datetime.date, list[tuple[datetime.time, datetime.time]]]
    holidays: set[datetime.date]
    appointments: _Busy
    time_off: _Busy

    @classmethod
    def load(
        cls,
        *,
        organization: Organization,
        membership: Membership,
        date_from: datetime.date,
        date_to: datetime.date,
        holidays: set[datetime.date] | None = None,
        exclude_appointment_id: int | None = None,
    ) -> ProviderCalendar:
        tz = organization.tzinfo
        range_start = datetime.datetime.combine(date_from - datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
        range_end = datetime.datetime.combine(date_to + datetime.timedelta(days=2), datetime.time(), tzinfo=tz)
        weekly: dict[int, list] = defaultdict(list)
        for weekday, start, end in WorkingHours.objects.filter(
            organization=organization, provider=membership
        ).values_list("weekday", "start", "end"):
            weekly[weekday].append((start, end))
        overrides: dict[datetime.date, list] = defaultdict(list)
        closed: set[datetime.date] = set()
        for day, start, end in DateOverride.objects.filter(
            organization=organization, provider=membership, date__gte=date_from, date__lte=date_to
        ).values_list("date", "start", "end"):
            if start is None:
                closed.add(day)
            else:
                overrides[day].append((start, end))
        # A day-off row wins over windows given for the same date.
        overrides = {day: sorted(windows) for day, windows in overrides.items()}
        overrides.update({day: [] for day in closed})
        if holidays is None:
            holidays = set(
                Holiday.objects.for_organization(organization)
                .filter(date__gte=date_from, date__lte=date_to)
                .values_list("date", flat=True)
            )
        appointments = Appointment.objects.filter(
            organization=organization,
            provider_id=membership.user_id,
            occupied_from__lt=range_end,
            occupied_until__gt=range_start,
        ).exclude(status=AppointmentStatus.CANCELLED)
        if exclude_appointment_id is not None:
            appointments = appointments.exclude(pk=exclude_appointment_id)
        time_off = TimeOff.objects.filter(
            organization=organization, provider=membership, start__lt=range_end, end__gt=range_start
        )
        return cls(
            membership=membership,
            weekly={day: sorted(windows) for day, windows in weekly.items()},
            overrides=overrides,
            holidays=holidays,
            appointments=_Busy.from_intervals(appointments.values_list("occupied_from", "occupied_until")),
            time_off=_Busy.from_intervals(time_off.values_list("start", "end")),
        )

    def windows_on(self, day: datetime.date, tz) -> list[tuple[datetime.datetime, datetime.datetime]]:
        """The day's working windows as absolute instants (UTC)."""
        if day in self.holidays:
            return []
        local = self.overrides.get(day)
        if local is None:
            local = self.weekly.get(day.weekday(), [])
        windows = []
        for start, end in local:
            window_start = datetime.datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
            window_end = datetime.datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
            if window_start < window_end:
                windows.append((window_start, window_end))
        return windows


def _occupied(
    service: Service, start: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime, datetime.datetime]:
    end = start + datetime.timedelta(minutes=service.duration_minutes)
    return (
        start - datetime.timedelta(minutes=service.buffer_before_minutes),
        end,
        end + datetime.timedelta(minutes=service.buffer_after_minutes),
    )


def booking_bounds(
    *, organization: Organization, now: datetime.datetime | None = None, rules: SchedulingSettings | None = None
):
    """(earliest, latest) start a customer may book now."""
    now = now or timezone.now()
    rules = rules or settings_for(organization)
    return (
        now + datetime.timedelta(minutes=rules.minimum_notice_minutes),
        now + datetime.timedelta(days=rules.booking_horizon_days),
    )


def provider_slots(
    *,
    organization: Organization,
    service: Service,
    calendar: ProviderCalendar,
    date_from: datetime.date,
    date_to: datetime.date,
    earliest: datetime.datetime,
    latest: datetime.datetime,
    interval: datetime.timedelta,
) -> list[Slot]:
    tz = organization.tzinfo
    duration = datetime.timedelta(minutes=service.duration_minutes)
    before = datetime.timedelta(minutes=service.buffer_before_minutes)
    after = duration + datetime.timedelta(minutes=service.buffer_after_minutes)
    appointments_overlap = calendar.appointments.overlaps
    time_off_overlap = calendar.time_off.overlaps
    membership_id, user_id = calendar.membership.pk, calendar.membership.user_id
    slots: list[Slot] = []
    append = slots.append
    day = date_from
    one_day = datetime.timedelta(days=1)
    while day <= date_to:
        for window_start, window_end in calendar.windows_on(day, tz):
            last_start = min(window_end - duration, latest)
            candidate = window_start
            if candidate < earliest:
                # Jump to the first step of the window at or after the earliest bookable time.
                steps = -((window_start - earliest) // interval)
                candidate = window_start + steps * interval
            while candidate <= last_start:
                if not appointments_overlap(candidate - before, candidate + after) and not time_off_overlap(
                    candidate - before, candidate + after
                ):
                    append(Slot(candidate, candidate + duration, membership_id, user_id))
                candidate += interval
        day += one_day
    return slots


def available_slots(
    *,
    organization: Organization,
    service: Service,
    date_from: datetime.date,
    date_to: datetime.date,
    provider: Membership | None = None,
    now: datetime.datetime | None = None,
    enforce_booking_window: bool = True,
) -> list[Slot]:
    """Free slots of ``service`` between two dates (inclusive, organization time zone).

    With ``provider=None`` every provider of the service is considered and each start time is
    listed once (with the first free provider). Notice and horizon apply unless
    ``enforce_booking_window`` is false (staff booking); slots in the past never show.
    """
    if not service.is_active or service.organization_id != organization.pk:
        return []
    rules = settings_for(organization)
    now = now or timezone.now()
    if enforce_booking_window:
        earliest, latest = booking_bounds(organization=organization, now=now, rules=rules)
    else:
        earliest, latest = now, datetime.datetime.max.replace(tzinfo=UTC)
    candidates = providers_for(organization=organization, service=service)
    if provider is not None:
        candidates = [m for m in candidates if m.pk == provider.pk]
    holidays = set(
        Holiday.objects.for_organization(organization)
        .filter(date__gte=date_from, date__lte=date_to)
        .values_list("date", flat=True)
    )
    interval = datetime.timedelta(minutes=rules.slot_interval_minutes)
    by_start: dict[datetime.datetime, Slot] = {}
    for membership in candidates:
        calendar = ProviderCalendar.load(
            organization=organization, membership=membership, date_from=date_from, date_to=date_to, holidays=holidays
        )
        for slot in provider_slots(
            organization=organization,
            service=service,
            calendar=calendar,
            date_from=date_from,
            date_to=date_to,
            earliest=earliest,
            latest=latest,
            interval=interval,
        ):
            by_start.setdefault(slot.start, slot)
    return [by_start[start] for start in sorted(by_start)]


def slot_conflict(
    *,
    organization: Organization,
    service: Service,
    provider: Membership,
    start: datetime.datetime,
    now: datetime.datetime | None = None,
    enforce_booking_window: bool = True,
    exclude_appointment_id: int | None = None,
) -> Conflict | None:
    """Why ``provider`` cannot take ``service`` at ``start``, or ``None`` when the slot is free.

    The check a booking makes before inserting; the exclusion constraint still has the last word
    for the race between this check and the insert.
    """
    now = now or timezone.now()
    if not service.is_active:
        return Conflict(ConflictReason.SERVICE_INACTIVE)
    if provider not in providers_for(organization=organization, service=service):
        return Conflict(ConflictReason.NOT_OFFERED)
    if start < now:
        return Conflict(ConflictReason.IN_PAST)
    if enforce_booking_window:
        earliest, latest = booking_bounds(organization=organization, now=now)
        if start < earliest:
            return Conflict(ConflictReason.TOO_SOON)
        if start > latest:
            return Conflict(ConflictReason.TOO_FAR)
    tz = organization.tzinfo
    day = start.astimezone(tz).date()
    calendar = ProviderCalendar.load(
        organization=organization,
        membership=provider,
        date_from=day - datetime.timedelta(days=1),
        date_to=day,
        exclude_appointment_id=exclude_appointment_id,
    )
    if day in calendar.holidays:
        return Conflict(ConflictReason.HOLIDAY)
    occupied_from, end, occupied_until = _occupied(service, start)
    windows = calendar.windows_on(day, tz) + calendar.windows_on(day - datetime.timedelta(days=1), tz)
    if not any(window_start <= start and end <= window_end for window_start, window_end in windows):
        return Conflict(ConflictReason.OUTSIDE_HOURS)
    if calendar.time_off.overlaps(occupied_from, occupied_until):
        return Conflict(ConflictReason.TIME_OFF)
    if calendar.appointments.overlaps(occupied_from, occupied_until):
        return Conflict(ConflictReason.OVERLAP)
    return None


def occupied_range(service: Service, start: datetime.datetime):
    """(occupied_from, end, occupied_until) of ``service`` starting at ``start``."""
    return _occupied(service, start)
