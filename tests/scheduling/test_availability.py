"""Slot computation: windows, buffers, notice, horizon, time off, holidays, overrides, DST."""

from __future__ import annotations

import datetime

import pytest

from accounts.models import Holiday
from scheduling import availability, services
from scheduling.availability import ConflictReason
from tests import factories as base
from tests.scheduling import factories

UTC = datetime.UTC
pytestmark = pytest.mark.django_db


def local_times(slots, tz):
    return [s.start.astimezone(tz).strftime("%H:%M%z") for s in slots]


def hhmm(slots, tz):
    return [s.start.astimezone(tz).strftime("%H:%M") for s in slots]


@pytest.fixture
def org():
    organization = base.organization(time_zone="America/Sao_Paulo")
    factories.settings(organization, minimum_notice_minutes=0, booking_horizon_days=730, slot_interval_minutes=30)
    return organization


def slots(org, svc, day, now, provider=None, **kwargs):
    return availability.available_slots(
        organization=org, service=svc, date_from=day, date_to=day, now=now, provider=provider, **kwargs
    )


def test_several_windows_a_day_and_interval(org):
    prov = factories.provider(org)
    svc = factories.service(org, duration=60, providers=[prov])
    day = factories.future_day(5)
    found = slots(org, svc, day, now=factories.at(org, day, 0) - datetime.timedelta(days=1))
    assert hhmm(found, org.tzinfo) == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "13:00",
        "13:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
        "16:30",
        "17:00",
    ]
    assert all(s.end - s.start == datetime.timedelta(hours=1) for s in found)


def test_buffers_around_existing_appointments(org):
    prov = factories.provider(org, windows=[(datetime.time(9), datetime.time(13))])
    svc = factories.service(org, duration=60, providers=[prov], buffer_before_minutes=15, buffer_after_minutes=15)
    day = factories.future_day(5)
    factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 10, 30))
    # Booked: 10:30–11:30, occupied 10:15–11:45. A new one occupies start-15 … start+75.
    found = slots(org, svc, day, now=factories.at(org, day, 0) - datetime.timedelta(days=1))
    assert hhmm(found, org.tzinfo) == ["09:00", "12:00"]


def test_minimum_notice_and_horizon(org):
    factories.settings(org, minimum_notice_minutes=120, booking_horizon_days=3)
    prov = factories.provider(org)
    svc = factories.service(org, duration=60, providers=[prov])
    day = factories.future_day(5)
    now = factories.at(org, day, 8)
    assert hhmm(slots(org, svc, day, now), org.tzinfo)[0] == "10:00"
    assert slots(org, svc, day + datetime.timedelta(days=4), now) == []
    # The horizon ends at 08:00 three days later: that day has nothing, the day before is whole.
    assert slots(org, svc, day + datetime.timedelta(days=3), now) == []
    assert len(slots(org, svc, day + datetime.timedelta(days=2), now)) == 14
    factories.settings(org, booking_horizon_days=4)
    assert hhmm(slots(org, svc, day + datetime.timedelta(days=4), now), org.tzinfo) == []
    assert hhmm(slots(org, svc, day + datetime.timedelta(days=3), now), org.tzinfo)[-1] == "17:00"
    # Staff booking ignores notice and horizon but never offers the past.
    staff = slots(org, svc, day, now, enforce_booking_window=False)
    assert hhmm(staff, org.tzinfo)[0] == "09:00"
    assert slots(org, svc, day, factories.at(org, day, 20), enforce_booking_window=False) == []


def test_time_off_holidays_and_date_overrides(org):
    prov = factories.provider(org)
    svc = factories.service(org, duration=60, providers=[prov])
    day = factories.future_day(5)
    now = factories.at(org, day, 0) - datetime.timedelta(days=1)
    services.time_off_add(provider=prov, start=factories.at(org, day, 9), end=factories.at(org, day, 16))
    assert hhmm(slots(org, svc, day, now), org.tzinfo) == ["16:00", "16:30", "17:00"]

    holiday = day + datetime.timedelta(days=1)
    Holiday.objects.create(organization=org, date=holiday, name="Feriado")
    assert slots(org, svc, holiday, now) == []

    closed = day + datetime.timedelta(days=2)
    services.date_override_add(provider=prov, date=closed)
    assert slots(org, svc, closed, now) == []

    special = day + datetime.timedelta(days=3)
    services.date_override_add(provider=prov, date=special, start=datetime.time(19), end=datetime.time(21))
    assert hhmm(slots(org, svc, special, now), org.tzinfo) == ["19:00", "19:30", "20:00"]


def test_any_provider_takes_the_free_one(org):
    first = factories.provider(org)
    second = factories.provider(org)
    svc = factories.service(org, duration=60, providers=[first, second])
    day = factories.future_day(5)
    factories.appointment(org, svc=svc, prov=first, start=factories.at(org, day, 9))
    found = slots(org, svc, day, now=factories.at(org, day, 0) - datetime.timedelta(days=1))
    nine = [s for s in found if s.start == factories.at(org, day, 9)]
    assert [s.provider_id for s in nine] == [second.pk]
    assert slots(org, svc, day, now=factories.at(org, day, 0) - datetime.timedelta(days=1), provider=first)[
        0
    ].start == factories.at(org, day, 10)


def test_inactive_service_and_foreign_organization_have_no_slots(org, tenant_b):
    prov = factories.provider(org)
    svc = factories.service(org, providers=[prov], is_active=False)
    day = factories.future_day(5)
    assert slots(org, svc, day, factories.at(org, day, 0)) == []
    active = factories.service(org, providers=[prov])
    assert availability.available_slots(organization=tenant_b.org, service=active, date_from=day, date_to=day) == []


@pytest.mark.parametrize(
    "day, expected",
    [
        # Spring forward at 01:00 → 02:00: 01:00 never happens, the window is 3 h long.
        (datetime.date(2027, 3, 28), ["00:00+0000", "02:00+0100", "03:00+0100"]),
        # Fall back at 02:00 → 01:00: 01:00 happens twice, the window is 5 h long.
        (datetime.date(2027, 10, 31), ["00:00+0100", "01:00+0100", "01:00+0000", "02:00+0000", "03:00+0000"]),
        # An ordinary Sunday.
        (datetime.date(2027, 4, 4), ["00:00+0100", "01:00+0100", "02:00+0100", "03:00+0100"]),
    ],
)
def test_dst_days_in_lisbon(day, expected):
    org = base.organization(time_zone="Europe/Lisbon")
    factories.settings(org, minimum_notice_minutes=0, booking_horizon_days=730, slot_interval_minutes=60)
    prov = factories.provider(
        org, windows=[(datetime.time(0), datetime.time(4)), (datetime.time(9), datetime.time(11))]
    )
    svc = factories.service(org, duration=60, providers=[prov])
    found = slots(org, svc, day, now=datetime.datetime(2026, 1, 1, tzinfo=UTC))
    night = [s for s in found if s.start.astimezone(org.tzinfo).hour < 5]
    assert local_times(night, org.tzinfo) == expected
    # Slots are distinct instants one hour apart, whatever the wall clock says.
    assert all(b.start - a.start == datetime.timedelta(hours=1) for a, b in zip(night, night[1:], strict=False))
    # Daytime windows are at their wall-clock times on both sides of the change.
    assert hhmm([s for s in found if s.start.astimezone(org.tzinfo).hour >= 9], org.tzinfo) == ["09:00", "10:00"]


def test_dst_days_in_sao_paulo():
    """São Paulo had DST until 2019: it began at 00:00 on 2018-11-04 and ended at 00:00 on 2019-02-17."""
    org = base.organization(time_zone="America/Sao_Paulo")
    factories.settings(org, minimum_notice_minutes=0, booking_horizon_days=730, slot_interval_minutes=60)
    prov = factories.provider(
        org, windows=[(datetime.time(0), datetime.time(3)), (datetime.time(9), datetime.time(12))]
    )
    svc = factories.service(org, duration=60, providers=[prov])
    now = datetime.datetime(2018, 10, 1, tzinfo=UTC)
    tz = org.tzinfo

    spring = slots(org, svc, datetime.date(2018, 11, 4), now)
    # Midnight does not exist that day: the window starts at 01:00 (-02) and is two hours long.
    assert local_times(spring, tz) == ["01:00-0200", "02:00-0200", "09:00-0200", "10:00-0200", "11:00-0200"]
    assert spring[2].start == datetime.datetime(2018, 11, 4, 11, 0, tzinfo=UTC)

    before = slots(org, svc, datetime.date(2018, 11, 3), now)
    assert local_times(before, tz) == [
        "00:00-0300",
        "01:00-0300",
        "02:00-0300",
        "09:00-0300",
        "10:00-0300",
        "11:00-0300",
    ]

    autumn = slots(org, svc, datetime.date(2019, 2, 17), now)
    assert local_times(autumn, tz) == [
        "00:00-0300",
        "01:00-0300",
        "02:00-0300",
        "09:00-0300",
        "10:00-0300",
        "11:00-0300",
    ]
    assert autumn[3].start == datetime.datetime(2019, 2, 17, 12, 0, tzinfo=UTC)


def test_month_range_spanning_a_dst_change_keeps_wall_clock_times():
    org = base.organization(time_zone="Europe/Lisbon")
    factories.settings(org, minimum_notice_minutes=0, booking_horizon_days=730, slot_interval_minutes=60)
    prov = factories.provider(org, windows=[(datetime.time(9), datetime.time(10))])
    svc = factories.service(org, duration=60, providers=[prov])
    found = availability.available_slots(
        organization=org,
        service=svc,
        date_from=datetime.date(2027, 3, 20),
        date_to=datetime.date(2027, 4, 5),
        now=datetime.datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert len(found) == 17
    assert {s.start.astimezone(org.tzinfo).strftime("%H:%M") for s in found} == {"09:00"}
    assert {s.start.astimezone(UTC).hour for s in found} == {8, 9}


def test_conflict_reasons(org):
    factories.settings(org, minimum_notice_minutes=60, booking_horizon_days=30)
    prov = factories.provider(org, weekdays=range(7))
    other = factories.provider(org)
    svc = factories.service(org, duration=60, providers=[prov])
    day = factories.future_day(5)

    def conflict(start, provider=prov, service=svc, **kwargs):
        found = availability.slot_conflict(organization=org, service=service, provider=provider, start=start, **kwargs)
        return found.reason if found else None

    assert conflict(factories.at(org, day, 10)) is None
    assert conflict(factories.at(org, day, 10), provider=other) == ConflictReason.NOT_OFFERED
    assert conflict(factories.at(org, day, 7)) == ConflictReason.OUTSIDE_HOURS
    assert conflict(factories.at(org, day, 11, 30)) == ConflictReason.OUTSIDE_HOURS  # runs into the lunch break
    assert conflict(factories.at(org, day + datetime.timedelta(days=60), 10)) == ConflictReason.TOO_FAR
    assert conflict(factories.at(org, day + datetime.timedelta(days=60), 10), enforce_booking_window=False) is None
    soon = datetime.datetime.now(UTC) + datetime.timedelta(minutes=30)
    assert conflict(soon) in (ConflictReason.TOO_SOON, ConflictReason.OUTSIDE_HOURS)
    assert conflict(datetime.datetime.now(UTC) - datetime.timedelta(hours=1)) == ConflictReason.IN_PAST
    Holiday.objects.create(organization=org, date=day + datetime.timedelta(days=1), name="Feriado")
    assert conflict(factories.at(org, day + datetime.timedelta(days=1), 10)) == ConflictReason.HOLIDAY
    services.time_off_add(provider=prov, start=factories.at(org, day, 14), end=factories.at(org, day, 15))
    assert conflict(factories.at(org, day, 14, 30)) == ConflictReason.TIME_OFF
    factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 16))
    assert conflict(factories.at(org, day, 16, 30)) == ConflictReason.OVERLAP
    svc.is_active = False
    assert conflict(factories.at(org, day, 10)) == ConflictReason.SERVICE_INACTIVE
    assert str(availability.Conflict(ConflictReason.OVERLAP).message)
