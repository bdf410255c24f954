"""Business-time arithmetic: weekends, holidays, several windows a day, DST changes, 24x7."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from conversations.business_hours import Schedule, add_business_minutes, business_time_between

UTC = dt.UTC
SP = ZoneInfo("America/Sao_Paulo")
NY = ZoneInfo("America/New_York")
LISBON = ZoneInfo("Europe/Lisbon")


def weekdays(tz, *spans, holidays=()):
    return Schedule.build(
        tz=tz, windows=[(day, start, end) for day in range(5) for start, end in spans], holidays=holidays
    )


NINE_TO_SIX = (dt.time(9), dt.time(18))


def local(tz, *args):
    return dt.datetime(*args, tzinfo=tz)


def test_inside_a_window_is_plain_addition():
    schedule = weekdays(SP, NINE_TO_SIX)
    start = local(SP, 2026, 3, 4, 10, 0)  # Wednesday
    assert add_business_minutes(start, 90, schedule) == local(SP, 2026, 3, 4, 11, 30)


def test_before_opening_starts_counting_at_opening():
    schedule = weekdays(SP, NINE_TO_SIX)
    assert add_business_minutes(local(SP, 2026, 3, 4, 6, 15), 30, schedule) == local(SP, 2026, 3, 4, 9, 30)


def test_overflow_continues_next_business_day():
    schedule = weekdays(SP, NINE_TO_SIX)
    assert add_business_minutes(local(SP, 2026, 3, 4, 17, 30), 60, schedule) == local(SP, 2026, 3, 5, 9, 30)


def test_friday_evening_skips_the_weekend():
    schedule = weekdays(SP, NINE_TO_SIX)
    friday = local(SP, 2026, 3, 6, 17, 0)
    assert add_business_minutes(friday, 120, schedule) == local(SP, 2026, 3, 9, 10, 0)  # Monday
    saturday = local(SP, 2026, 3, 7, 12, 0)
    assert add_business_minutes(saturday, 15, schedule) == local(SP, 2026, 3, 9, 9, 15)


def test_holidays_are_skipped_even_several_in_a_row():
    schedule = weekdays(SP, NINE_TO_SIX, holidays=[dt.date(2026, 12, 24), dt.date(2026, 12, 25)])
    wednesday = local(SP, 2026, 12, 23, 17, 0)
    # 60 min on Wed, Thu+Fri are holidays, weekend, so Monday 28th 10:00.
    assert add_business_minutes(wednesday, 120, schedule) == local(SP, 2026, 12, 28, 10, 0)


def test_lunch_break_between_two_windows():
    schedule = weekdays(SP, (dt.time(8), dt.time(12)), (dt.time(13), dt.time(18)))
    assert add_business_minutes(local(SP, 2026, 3, 4, 11, 30), 60, schedule) == local(SP, 2026, 3, 4, 13, 30)
    assert add_business_minutes(local(SP, 2026, 3, 4, 12, 20), 10, schedule) == local(SP, 2026, 3, 4, 13, 10)


def test_multi_day_targets_span_whole_business_days():
    schedule = weekdays(SP, NINE_TO_SIX)
    # 3 business days of 9h = 1620 min from Thursday 09:00 → Monday 18:00 (Thu, Fri, Mon).
    assert add_business_minutes(local(SP, 2026, 3, 5, 9, 0), 27 * 60, schedule) == local(SP, 2026, 3, 9, 18, 0)


def test_spring_forward_weekend_result_in_the_new_offset():
    schedule = weekdays(NY, (dt.time(9), dt.time(17)))
    friday = local(NY, 2026, 3, 6, 16, 0)  # EST, UTC-5; DST starts Sunday 8 March
    due = add_business_minutes(friday, 120, schedule)
    assert due == local(NY, 2026, 3, 9, 10, 0)  # Monday 10:00 EDT
    assert due.astimezone(UTC) == dt.datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    # Counting in UTC with Friday's offset would have said 15:00 UTC.
    assert due.astimezone(UTC) != dt.datetime(2026, 3, 9, 10, 0).replace(
        tzinfo=dt.timezone(dt.timedelta(hours=-5))
    ).astimezone(UTC)


def test_fall_back_weekend():
    schedule = weekdays(NY, (dt.time(9), dt.time(17)))
    friday = local(NY, 2026, 10, 30, 16, 30)  # EDT; DST ends Sunday 1 November
    due = add_business_minutes(friday, 60, schedule)
    assert due.astimezone(UTC) == dt.datetime(2026, 11, 2, 14, 30, tzinfo=UTC)  # Monday 09:30 EST


def test_window_containing_the_dst_jump_is_shorter_in_real_time():
    # A 24h Sunday window on the spring-forward day holds only 23 real hours.
    schedule = Schedule.build(tz=NY, windows=[(6, dt.time(0), dt.time(23, 59))])
    sunday = local(NY, 2026, 3, 8, 0, 0)
    # 23h59 on the wall clock, 22h59 of real time: the window is full after 22h59 ...
    assert add_business_minutes(sunday, 60 * 22 + 59, schedule) == local(NY, 2026, 3, 8, 23, 59)
    # ... and one more minute lands in next Sunday's window.
    assert add_business_minutes(sunday, 60 * 23, schedule) == local(NY, 2026, 3, 15, 0, 1)
    spent = business_time_between(sunday, local(NY, 2026, 3, 8, 23, 59), schedule)
    assert spent == dt.timedelta(hours=22, minutes=59)


def test_lisbon_dst_on_a_working_sunday():
    schedule = Schedule.build(tz=LISBON, windows=[(6, dt.time(0, 30), dt.time(3, 30))])
    # 29 March 2026 01:00 → 02:00 in Lisbon: the 3-hour window holds 2 real hours.
    start = local(LISBON, 2026, 3, 29, 0, 30)
    assert business_time_between(start, local(LISBON, 2026, 3, 29, 3, 30), schedule) == dt.timedelta(hours=2)
    assert add_business_minutes(start, 120, schedule) == local(LISBON, 2026, 3, 29, 3, 30)


def test_no_windows_counts_calendar_time():
    schedule = Schedule.build(tz=SP)
    start = local(SP, 2026, 3, 7, 23, 0)  # a Saturday night
    assert add_business_minutes(start, 90, schedule) == start + dt.timedelta(minutes=90)


def test_zero_minutes_is_the_start_and_fractions_are_exact():
    schedule = weekdays(SP, NINE_TO_SIX)
    start = local(SP, 2026, 3, 7, 12, 0)
    assert add_business_minutes(start, 0, schedule) == start
    assert add_business_minutes(local(SP, 2026, 3, 4, 9, 0), 12.5, schedule) == local(SP, 2026, 3, 4, 9, 12, 30)


def test_results_are_in_utc_and_equal_across_zones_of_the_start():
    schedule = weekdays(SP, NINE_TO_SIX)
    start_sp = local(SP, 2026, 3, 4, 10, 0)
    start_utc = start_sp.astimezone(UTC)
    assert add_business_minutes(start_sp, 45, schedule) == add_business_minutes(start_utc, 45, schedule)
    assert add_business_minutes(start_utc, 45, schedule).tzinfo == UTC


def test_business_time_between_mirrors_addition():
    schedule = weekdays(SP, NINE_TO_SIX, holidays=[dt.date(2026, 3, 9)])
    start = local(SP, 2026, 3, 6, 15, 0)
    for minutes in (1, 59, 180, 181, 600, 2000):
        end = add_business_minutes(start, minutes, schedule)
        assert business_time_between(start, end, schedule) == dt.timedelta(minutes=minutes)


def test_invalid_input_is_refused():
    schedule = weekdays(SP, NINE_TO_SIX)
    with pytest.raises(ValueError):
        add_business_minutes(dt.datetime(2026, 3, 4, 10), 5, schedule)
    with pytest.raises(ValueError):
        add_business_minutes(local(SP, 2026, 3, 4, 10), -5, schedule)
    with pytest.raises(ValueError):
        Schedule.build(tz=SP, windows=[(0, dt.time(18), dt.time(9))])
    every_day_off = Schedule.build(
        tz=SP,
        windows=[(0, dt.time(9), dt.time(10))],
        holidays=[dt.date(2026, 1, 5) + dt.timedelta(weeks=n) for n in range(200)],
    )
    with pytest.raises(ValueError, match="no business time"):
        add_business_minutes(local(SP, 2026, 1, 5, 8), 5, every_day_off)
