"""Quiet hours: release_time over midnight, on daylight-saving days, and over many instants."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.quiet import (
    BadQuietTime,
    UnknownTimezone,
    is_quiet,
    normalize_hhmm,
    parse_hhmm,
    release_time,
    zone,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(name: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(name), fold=fold)  # type: ignore[misc]


def test_no_quiet_hours_releases_now() -> None:
    now = utc(2026, 3, 2, 3, 0)
    assert release_time(now, None, None, BERLIN) == now
    assert release_time(now, "23:00", None, BERLIN) == now
    assert release_time(now, "07:00", "07:00", BERLIN) == now  # empty period


def test_over_midnight_before_and_after_midnight() -> None:
    # Shanghai is UTC+8 all year: 23:00-07:00 local is 15:00-23:00 UTC
    tz = "Asia/Shanghai"
    assert release_time(utc(2026, 3, 2, 15, 30), "23:00", "07:00", tz) == utc(2026, 3, 2, 23, 0)
    assert release_time(utc(2026, 3, 2, 17, 0), "23:00", "07:00", tz) == utc(2026, 3, 2, 23, 0)
    assert release_time(utc(2026, 3, 2, 22, 59), "23:00", "07:00", tz) == utc(2026, 3, 2, 23, 0)


def test_boundaries_start_inclusive_end_exclusive() -> None:
    tz = "Asia/Shanghai"
    start = utc(2026, 3, 2, 15, 0)  # 23:00 local
    assert release_time(start, "23:00", "07:00", tz) == utc(2026, 3, 2, 23, 0)
    assert release_time(start - timedelta(seconds=1), "23:00", "07:00", tz) == start - timedelta(
        seconds=1
    )
    end = utc(2026, 3, 2, 23, 0)  # 07:00 local
    assert release_time(end, "23:00", "07:00", tz) == end


def test_same_day_period() -> None:
    now = local(BERLIN, 2026, 1, 10, 13, 15).astimezone(UTC)
    assert release_time(now, "13:00", "14:30", BERLIN) == local(BERLIN, 2026, 1, 10, 14, 30)
    outside = local(BERLIN, 2026, 1, 10, 12, 59).astimezone(UTC)
    assert release_time(outside, "13:00", "14:30", BERLIN) == outside
    evening = local(BERLIN, 2026, 1, 10, 15, 0).astimezone(UTC)
    assert not is_quiet(evening, "13:00", "14:30", BERLIN)


def test_spring_forward_night_is_one_hour_shorter() -> None:
    # Berlin, 2026-03-29: clocks go 02:00 CET -> 03:00 CEST
    now = local(BERLIN, 2026, 3, 28, 23, 30).astimezone(UTC)  # 22:30 UTC
    released = release_time(now, "23:00", "07:00", BERLIN)
    assert released == local(BERLIN, 2026, 3, 29, 7, 0)
    assert released == utc(2026, 3, 29, 5, 0)  # CEST: UTC+2
    assert released - now == timedelta(hours=6, minutes=30)  # 7.5 wall hours, 6.5 real


def test_fall_back_night_is_one_hour_longer() -> None:
    # Berlin, 2026-10-25: clocks go 03:00 CEST -> 02:00 CET
    now = local(BERLIN, 2026, 10, 24, 23, 30).astimezone(UTC)  # 21:30 UTC
    released = release_time(now, "23:00", "07:00", BERLIN)
    assert released == utc(2026, 10, 25, 6, 0)  # CET: UTC+1
    assert released - now == timedelta(hours=8, minutes=30)


def test_end_time_inside_the_spring_gap_releases_when_the_clock_jumps() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: the period ends at the jump (01:00 UTC)
    now = local(BERLIN, 2026, 3, 29, 1, 0).astimezone(UTC)
    assert release_time(now, "23:00", "02:30", BERLIN) == utc(2026, 3, 29, 1, 0)


def test_end_time_twice_in_the_autumn_releases_at_the_first() -> None:
    # 02:30 happens twice in Berlin on 2026-10-25: 00:30 UTC (CEST) and 01:30 UTC (CET)
    now = local(BERLIN, 2026, 10, 25, 1, 0).astimezone(UTC)
    assert release_time(now, "23:00", "02:30", BERLIN) == utc(2026, 10, 25, 0, 30)


def test_during_the_repeated_hour_the_second_end_time_counts() -> None:
    # Berlin 2026-10-25, quiet 01:30-02:30: at 02:24 CET (the repeat) release at 02:30 CET
    now = utc(2026, 10, 25, 1, 24)
    assert release_time(now, "01:30", "02:30", BERLIN) == utc(2026, 10, 25, 1, 30)


def test_new_york_over_midnight_on_dst_days() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT; quiet 22:00-06:00 ends at 06:00 EDT = 10:00 UTC
    now = local(NEW_YORK, 2026, 3, 7, 23, 0).astimezone(UTC)
    assert release_time(now, "22:00", "06:00", NEW_YORK) == utc(2026, 3, 8, 10, 0)
    # 2026-11-01: 02:00 EDT -> 01:00 EST; ends 06:00 EST = 11:00 UTC
    now = local(NEW_YORK, 2026, 10, 31, 23, 0).astimezone(UTC)
    assert release_time(now, "22:00", "06:00", NEW_YORK) == utc(2026, 11, 1, 11, 0)


def _in_period(wall: time, start: time, end: time) -> bool:
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


@pytest.mark.parametrize(
    ("tz", "start", "end"),
    [
        (BERLIN, "23:00", "07:00"),
        (BERLIN, "01:30", "02:30"),  # inside the spring gap / autumn repeat
        (BERLIN, "02:15", "09:00"),
        (NEW_YORK, "22:00", "06:00"),
        ("Australia/Lord_Howe", "00:00", "02:15"),  # a 30-minute DST shift
        ("Asia/Kolkata", "12:00", "13:00"),
        ("UTC", "00:00", "23:59"),
    ],
)
def test_properties_over_a_year_of_instants(tz: str, start: str, end: str) -> None:
    """Every 37 minutes over a year (both DST days included): the release is never before now;
    outside the period it is now; inside it, the clock there shows the end time (or the jump
    over it), the instant just before is still quiet, and releasing again changes nothing."""
    zone_info = ZoneInfo(tz)
    s, e = parse_hhmm(start), parse_hhmm(end)
    now = utc(2026, 1, 1, 0, 7)
    held = 0
    while now < utc(2027, 1, 1):
        released = release_time(now, start, end, tz)
        wall = now.astimezone(zone_info).time().replace(tzinfo=None)
        assert released >= now
        if not _in_period(wall, s, e):
            assert released == now
        else:
            held += 1
            assert released > now
            assert released - now <= timedelta(hours=25)
            shown = released.astimezone(zone_info).time().replace(tzinfo=None)
            assert not _in_period(shown, s, e), (now, released)
            before = (released - timedelta(seconds=1)).astimezone(zone_info).time()
            assert _in_period(before.replace(tzinfo=None), s, e), (now, released)
            assert release_time(released, start, end, tz) == released
        now += timedelta(minutes=37)
    assert held > 100  # the loop did test held messages


def test_parse_and_normalize_times() -> None:
    assert parse_hhmm("7:05") == time(7, 5)
    assert normalize_hhmm(" 07:05 ") == "07:05"
    assert normalize_hhmm("23:59") == "23:59"
    for bad in ("25:00", "24:00", "12:60", "noon", "", "7", "07:5", "１２:００"):
        with pytest.raises(BadQuietTime):
            parse_hhmm(bad)


def test_zones() -> None:
    assert zone("Asia/Shanghai").key == "Asia/Shanghai"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "Europe/Berlin ", "x" * 300):
        with pytest.raises(UnknownTimezone):
            zone(bad)
    with pytest.raises(UnknownTimezone):
        release_time(utc(2026, 1, 1), "23:00", "07:00", "Nowhere/Town")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        release_time(datetime(2026, 1, 1), "23:00", "07:00", "UTC")
