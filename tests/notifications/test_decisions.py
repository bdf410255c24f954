"""Quiet hours and hourly limits as pure rules (the services test them end to end)."""

import datetime
import zoneinfo

from notifications.decisions import quiet_hours_end, rolling_hour_limit

UTC = datetime.UTC
SP = zoneinfo.ZoneInfo("America/Sao_Paulo")
NY = zoneinfo.ZoneInfo("America/New_York")


def at(tz, *args):
    return datetime.datetime(*args, tzinfo=tz)


def test_same_day_window_inside_and_outside():
    start, end = datetime.time(12), datetime.time(14)
    assert quiet_hours_end(at(SP, 2026, 5, 4, 13, 0), start=start, end=end, tz=SP) == at(SP, 2026, 5, 4, 14, 0)
    assert quiet_hours_end(at(SP, 2026, 5, 4, 14, 0), start=start, end=end, tz=SP) is None
    assert quiet_hours_end(at(SP, 2026, 5, 4, 11, 59), start=start, end=end, tz=SP) is None


def test_window_over_midnight_before_and_after_midnight():
    start, end = datetime.time(22), datetime.time(8)
    assert quiet_hours_end(at(SP, 2026, 5, 4, 23, 30), start=start, end=end, tz=SP) == at(SP, 2026, 5, 5, 8, 0)
    assert quiet_hours_end(at(SP, 2026, 5, 5, 3, 0), start=start, end=end, tz=SP) == at(SP, 2026, 5, 5, 8, 0)
    assert quiet_hours_end(at(SP, 2026, 5, 5, 8, 0), start=start, end=end, tz=SP) is None
    assert quiet_hours_end(at(SP, 2026, 5, 5, 21, 59), start=start, end=end, tz=SP) is None


def test_evaluated_in_the_given_time_zone_not_utc():
    # 01:00 UTC is 22:00 in São Paulo (UTC-3): inside 22:00–08:00 there, outside in UTC terms.
    now = datetime.datetime(2026, 5, 5, 1, 0, tzinfo=UTC)
    end = quiet_hours_end(now, start=datetime.time(22), end=datetime.time(8), tz=SP)
    assert end == datetime.datetime(2026, 5, 5, 11, 0, tzinfo=UTC)
    assert (
        quiet_hours_end(now, start=datetime.time(22), end=datetime.time(8), tz=zoneinfo.ZoneInfo("Asia/Tokyo")) is None
    )


def test_across_a_dst_change_the_window_ends_at_local_wall_time():
    # New York springs forward on 2026-03-08 at 02:00: 08:00 local is then UTC-4, not UTC-5.
    now = at(NY, 2026, 3, 7, 23, 0)
    end = quiet_hours_end(now, start=datetime.time(22), end=datetime.time(8), tz=NY)
    assert end == datetime.datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert end - now.astimezone(UTC) == datetime.timedelta(hours=8)  # one hour shorter night
    # And falls back on 2026-11-01: 08:00 local is UTC-5 again; the night is one hour longer.
    now = at(NY, 2026, 10, 31, 23, 0)
    end = quiet_hours_end(now, start=datetime.time(22), end=datetime.time(8), tz=NY)
    assert end == datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert end - now.astimezone(UTC) == datetime.timedelta(hours=10)


def test_a_window_ending_in_the_dst_gap_ends_when_the_clocks_jump():
    # 02:30 does not exist in New York on 2026-03-08; the quiet window ends at 03:00 EDT (07:00 UTC).
    now = at(NY, 2026, 3, 8, 1, 0)
    end = quiet_hours_end(now, start=datetime.time(22), end=datetime.time(2, 30), tz=NY)
    assert end == datetime.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_equal_start_and_end_is_no_window():
    assert quiet_hours_end(at(SP, 2026, 5, 4, 13), start=datetime.time(9), end=datetime.time(9), tz=SP) is None


def test_rolling_hour_limit_defers_until_the_oldest_counted_row_ages_out():
    now = datetime.datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    recent = [now - datetime.timedelta(minutes=m) for m in (50, 30, 10)]
    assert rolling_hour_limit(now, limit=4, recent=recent).allowed
    decision = rolling_hour_limit(now, limit=3, recent=recent)
    assert not decision.allowed
    assert now + datetime.timedelta(minutes=10) < decision.next_slot <= now + datetime.timedelta(minutes=10, seconds=1)
    # Rows older than an hour do not count.
    assert rolling_hour_limit(now, limit=1, recent=[now - datetime.timedelta(minutes=61)]).allowed
