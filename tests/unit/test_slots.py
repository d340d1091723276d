"""Tests for bot.domain.slots: posting slots, DST resolution, weekly digest instant."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest

from bot.domain.slots import (
    SlotRule,
    WeeklyRule,
    assign_slots,
    iter_slots,
    next_slots,
    parse_day,
    parse_slot_rule,
    parse_time,
    parse_weekly_rule,
    resolve_local,
    weekly_slot,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def rule(times: list[str], days: list[str | int], tz: str = "Europe/Berlin") -> SlotRule:
    return parse_slot_rule(times, days, tz)


WEEKDAYS_3 = rule(["09:00", "13:00", "19:00"], ["mon", "tue", "wed", "thu", "fri"])


# --------------------------------------------------------------------------- parsing


def test_parse_slot_rule_sorts_and_dedupes() -> None:
    r = parse_slot_rule(
        ["19:00", "9:00", "13:00", "09:00"], ["fri", 1, "MON", "5"], "Europe/Berlin"
    )
    assert r.times == (time(9), time(13), time(19))
    assert r.days == frozenset({1, 5})
    assert r.tz == BERLIN


def test_parse_day_accepts_names_and_numbers() -> None:
    values: list[str | int] = ["mon", "Tue", "wednesday", "SUN", 7, "3", " sat "]
    assert [parse_day(d) for d in values] == [
        1, 2, 3, 7, 7, 3, 6,
    ]  # fmt: skip


@pytest.mark.parametrize("bad", ["24:00", "12:60", "1200", "12:5", "noon", "", "12:00:00"])
def test_parse_time_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        parse_time(bad)


@pytest.mark.parametrize("bad", [0, 8, "mo", "8", "funday", True, -1])
def test_parse_day_rejects(bad: str | int) -> None:
    with pytest.raises(ValueError, match="day"):
        parse_day(bad)


def test_parse_errors_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match="'25:00'"):
        parse_slot_rule(["09:00", "25:00"], ["mon"], "UTC")
    with pytest.raises(ValueError, match="'funday'"):
        parse_slot_rule(["09:00"], ["mon", "funday"], "UTC")
    with pytest.raises(ValueError, match="'Mars/Base'"):
        parse_slot_rule(["09:00"], ["mon"], "Mars/Base")


def test_parse_rejects_empty_and_bare_strings() -> None:
    with pytest.raises(ValueError, match="times"):
        parse_slot_rule([], ["mon"], "UTC")
    with pytest.raises(ValueError, match="days"):
        parse_slot_rule(["09:00"], [], "UTC")
    with pytest.raises(ValueError, match="times"):
        parse_slot_rule("09:00", ["mon"], "UTC")
    with pytest.raises(ValueError, match="days"):
        parse_slot_rule(["09:00"], "mon", "UTC")
    with pytest.raises(ValueError, match="time zone"):
        parse_slot_rule(["09:00"], ["mon"], "")


def test_slot_rule_direct_construction_is_validated() -> None:
    with pytest.raises(ValueError):
        SlotRule(times=(), days=frozenset({1}), tz=BERLIN)
    with pytest.raises(ValueError):
        SlotRule(times=(time(9),), days=frozenset(), tz=BERLIN)
    with pytest.raises(ValueError):
        SlotRule(times=(time(9),), days=frozenset({0}), tz=BERLIN)
    with pytest.raises(ValueError):
        SlotRule(times=(time(9, tzinfo=UTC),), days=frozenset({1}), tz=BERLIN)
    r = SlotRule(times=(time(13), time(9), time(13)), days=frozenset({1}), tz=BERLIN)
    assert r.times == (time(9), time(13))


def test_parse_weekly_rule() -> None:
    assert parse_weekly_rule("sun", "20:00", "Europe/Berlin") == WeeklyRule(7, time(20), BERLIN)
    with pytest.raises(ValueError, match="'sunday-ish'"):
        parse_weekly_rule("sunday-ish", "20:00", "Europe/Berlin")
    with pytest.raises(ValueError, match="'8pm'"):
        parse_weekly_rule("sun", "8pm", "Europe/Berlin")
    with pytest.raises(ValueError):
        WeeklyRule(0, time(20), BERLIN)


# --------------------------------------------------------------------------- normal days


def test_normal_weekday_slots_in_utc() -> None:
    # Tue 2026-01-06, Berlin is UTC+1 in winter.
    got = next_slots(WEEKDAYS_3, utc(2026, 1, 6, 0, 0), 4)
    assert got == [utc(2026, 1, 6, 8), utc(2026, 1, 6, 12), utc(2026, 1, 6, 18), utc(2026, 1, 7, 8)]
    assert all(s.tzinfo is UTC for s in got)


def test_summer_offset() -> None:
    assert next_slots(WEEKDAYS_3, utc(2026, 7, 1, 0, 0), 1) == [utc(2026, 7, 1, 7)]


def test_days_filter_skips_weekend() -> None:
    # Fri 2026-01-09 after the last slot -> next is Mon 2026-01-12 09:00 local.
    got = next_slots(WEEKDAYS_3, utc(2026, 1, 9, 18, 0), 2)
    assert got == [utc(2026, 1, 12, 8), utc(2026, 1, 12, 12)]


def test_single_day_rule() -> None:
    r = rule(["10:00"], ["wed"], "UTC")
    assert next_slots(r, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 7, 10), utc(2026, 1, 14, 10), utc(2026, 1, 21, 10),
    ]  # fmt: skip


def test_slot_exactly_at_after_is_excluded() -> None:
    assert next_slots(WEEKDAYS_3, utc(2026, 1, 6, 8, 0), 1) == [utc(2026, 1, 6, 12)]
    one_us_before = utc(2026, 1, 6, 8) - timedelta(microseconds=1)
    assert next_slots(WEEKDAYS_3, one_us_before, 1) == [utc(2026, 1, 6, 8)]


def test_after_in_other_zone_is_compared_as_instant() -> None:
    # 09:00 Berlin == 03:00 New York (winter), so the 09:00 slot is excluded.
    after = datetime(2026, 1, 6, 3, 0, tzinfo=NEW_YORK)
    assert next_slots(WEEKDAYS_3, after, 1) == [utc(2026, 1, 6, 12)]


def test_after_late_evening_local_date_differs_from_utc() -> None:
    # 23:30 UTC Monday is 00:30 Tuesday in Berlin: Tuesday's slots are all ahead.
    assert next_slots(WEEKDAYS_3, utc(2026, 1, 5, 23, 30), 1) == [utc(2026, 1, 6, 8)]


def test_naive_after_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_slots(WEEKDAYS_3, datetime(2026, 1, 6), 1)
    with pytest.raises(ValueError, match="n must"):
        next_slots(WEEKDAYS_3, utc(2026, 1, 6), -1)
    assert next_slots(WEEKDAYS_3, utc(2026, 1, 6), 0) == []


def test_iter_slots_is_infinite_and_lazy() -> None:
    it = iter_slots(rule(["12:00"], [1, 2, 3, 4, 5, 6, 7], "UTC"), utc(2026, 1, 1))
    got = list(islice(it, 1000))
    assert got[-1] == utc(2026, 1, 1, 12) + timedelta(days=999)


# --------------------------------------------------------------------------- DST


def test_berlin_spring_forward_gap_shifted_to_0300() -> None:
    r = rule(["02:30", "09:00"], ["sun"])
    # Sun 2026-03-29: 02:00 CET -> 03:00 CEST. 02:30 does not exist -> 03:00 CEST = 01:00 UTC.
    got = next_slots(r, utc(2026, 3, 28), 4)
    assert got == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 7),
        utc(2026, 4, 5, 0, 30),
        utc(2026, 4, 5, 7),
    ]
    assert got[0].astimezone(BERLIN).time() == time(3, 0)
    # The week before, still CET.
    assert next_slots(r, utc(2026, 3, 21), 2) == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 22, 8)]


def test_berlin_fall_back_ambiguous_fires_once_first_occurrence() -> None:
    r = rule(["02:30", "09:00"], ["sun"])
    # Sun 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, fires at the CEST one.
    got = next_slots(r, utc(2026, 10, 24), 3)
    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 8), utc(2026, 11, 1, 1, 30)]
    # Between the two occurrences of 02:30 (00:30Z and 01:30Z) nothing fires at 01:30Z.
    assert next_slots(r, utc(2026, 10, 25, 0, 30), 1) == [utc(2026, 10, 25, 8)]


def test_new_york_spring_forward_gap() -> None:
    r = rule(["02:30", "09:00"], ["sun"], "America/New_York")
    # Sun 2026-03-08: 02:00 EST -> 03:00 EDT. 02:30 -> 03:00 EDT = 07:00 UTC.
    assert next_slots(r, utc(2026, 3, 7), 2) == [utc(2026, 3, 8, 7), utc(2026, 3, 8, 13)]


def test_new_york_fall_back() -> None:
    r = rule(["01:30", "02:30", "09:00"], ["sun"], "America/New_York")
    # Sun 2026-11-01: 02:00 EDT -> 01:00 EST. 01:30 is ambiguous -> 01:30 EDT = 05:30 UTC;
    # 02:30 exists once (EST) = 07:30 UTC; 09:00 EST = 14:00 UTC.
    assert next_slots(r, utc(2026, 10, 31), 3) == [
        utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 1, 14),
    ]  # fmt: skip


def test_two_slots_collapsing_into_one_instant_fire_once() -> None:
    # 02:15, 02:45 and 03:00 all resolve to 03:00 CEST on 2026-03-29.
    r = rule(["02:15", "02:45", "03:00", "04:00"], ["sun"])
    assert next_slots(r, utc(2026, 3, 28), 3) == [
        utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), utc(2026, 4, 5, 0, 15),
    ]  # fmt: skip


def test_resolve_local_gap_and_fold() -> None:
    assert resolve_local(date(2026, 3, 29), time(2, 0), BERLIN) == utc(2026, 3, 29, 1)
    assert resolve_local(date(2026, 3, 29), time(2, 59), BERLIN) == utc(2026, 3, 29, 1)
    assert resolve_local(date(2026, 3, 29), time(1, 59), BERLIN) == utc(2026, 3, 29, 0, 59)
    assert resolve_local(date(2026, 10, 25), time(2, 0), BERLIN) == utc(2026, 10, 25, 0)
    assert resolve_local(date(2026, 10, 25), time(3, 0), BERLIN) == utc(2026, 10, 25, 2)


def test_midnight_gap_zone() -> None:
    # America/Santiago springs forward at 24:00 -> 01:00 (2026-09-06): 00:30 -> 01:00 -03.
    santiago = ZoneInfo("America/Santiago")
    r = SlotRule(times=(time(0, 30), time(1, 0), time(12)), days=frozenset({7}), tz=santiago)
    got = next_slots(r, utc(2026, 9, 5), 2)
    assert got == [utc(2026, 9, 6, 4), utc(2026, 9, 6, 15)]


def _check_walk(r: SlotRule, start: datetime, weeks: int) -> list[datetime]:
    end = start + timedelta(weeks=weeks)
    slots = list(takewhile(lambda s: s < end, iter_slots(r, start)))
    assert len(slots) >= weeks  # at least one slot a week, so the checks below bite
    assert all(a < b for a, b in pairwise(slots))
    assert len(set(slots)) == len(slots)
    return slots


def test_52_week_walk_berlin_weekdays() -> None:
    start = datetime(2026, 1, 1, tzinfo=BERLIN)
    slots = _check_walk(WEEKDAYS_3, start, 52)
    first, last = date(2026, 1, 1), date(2026, 1, 1) + timedelta(weeks=52)
    weekdays = sum(
        1 for k in range((last - first).days) if (first + timedelta(days=k)).isoweekday() <= 5
    )
    assert weekdays == 260
    assert len(slots) == 3 * weekdays
    expected = [
        datetime.combine(first + timedelta(days=k), t, tzinfo=BERLIN).astimezone(UTC)
        for k in range((last - first).days)
        if (first + timedelta(days=k)).isoweekday() <= 5
        for t in WEEKDAYS_3.times
    ]
    assert slots == expected
    for s in slots:
        local = s.astimezone(BERLIN)
        assert local.isoweekday() <= 5
        assert local.time() in WEEKDAYS_3.times
        assert s.utcoffset() == timedelta(0)


def test_52_week_walk_with_dst_slots_every_day() -> None:
    # A 02:30 slot daily in Berlin: one shifted day (2026-03-29), one ambiguous day (2026-10-25).
    r = rule(["02:30", "09:00"], [1, 2, 3, 4, 5, 6, 7])
    start = datetime(2026, 1, 1, tzinfo=BERLIN)
    slots = _check_walk(r, start, 52)
    assert len(slots) == 2 * 7 * 52
    shifted = [s for s in slots if s.astimezone(BERLIN).time() not in r.times]
    assert shifted == [utc(2026, 3, 29, 1)]
    assert shifted[0].astimezone(BERLIN).time() == time(3, 0)
    on_fall_back = [s for s in slots if s.astimezone(BERLIN).date() == date(2026, 10, 25)]
    assert on_fall_back == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 8)]


def test_52_week_walk_new_york() -> None:
    r = rule(["01:30", "02:30", "09:00"], [1, 2, 3, 4, 5, 6, 7], "America/New_York")
    slots = _check_walk(r, datetime(2026, 1, 1, tzinfo=NEW_YORK), 52)
    assert len(slots) == 3 * 7 * 52


# --------------------------------------------------------------------------- assign_slots


def test_assign_slots_skips_taken() -> None:
    after = utc(2026, 1, 6, 0)
    taken = [utc(2026, 1, 6, 8), datetime(2026, 1, 6, 19, 0, tzinfo=BERLIN)]  # 2nd == 18:00Z
    got = assign_slots(WEEKDAYS_3, after, 3, taken)
    assert got == [utc(2026, 1, 6, 12), utc(2026, 1, 7, 8), utc(2026, 1, 7, 12)]


def test_assign_slots_ignores_unrelated_taken_and_zero_count() -> None:
    after = utc(2026, 1, 6, 0)
    assert assign_slots(WEEKDAYS_3, after, 1, {utc(2026, 1, 6, 8, 1)}) == [utc(2026, 1, 6, 8)]
    assert assign_slots(WEEKDAYS_3, after, 0, []) == []
    with pytest.raises(ValueError):
        assign_slots(WEEKDAYS_3, after, -1, [])
    with pytest.raises(ValueError, match="aware"):
        assign_slots(WEEKDAYS_3, after, 1, [datetime(2026, 1, 6, 8)])


def test_assign_slots_many_taken() -> None:
    after = utc(2026, 1, 1)
    taken = next_slots(WEEKDAYS_3, after, 50)
    got = assign_slots(WEEKDAYS_3, after, 2, taken)
    assert got == next_slots(WEEKDAYS_3, after, 52)[50:]


# --------------------------------------------------------------------------- weekly_slot


def test_weekly_slot_normal() -> None:
    # Sun 20:00 Berlin; from Wed 2026-01-07 -> Sun 2026-01-11 19:00Z.
    assert weekly_slot(7, time(20), BERLIN, utc(2026, 1, 7, 12)) == utc(2026, 1, 11, 19)


def test_weekly_slot_on_or_after_is_inclusive() -> None:
    at = utc(2026, 1, 11, 19)
    assert weekly_slot(7, time(20), BERLIN, at) == at
    assert weekly_slot(7, time(20), BERLIN, at + timedelta(microseconds=1)) == utc(2026, 1, 18, 19)


def test_weekly_slot_around_dst() -> None:
    # Sunday 2026-03-29 is the spring-forward day: 20:00 is CEST (18:00Z), week before CET.
    assert weekly_slot(7, time(20), BERLIN, utc(2026, 3, 22, 0)) == utc(2026, 3, 22, 19)
    assert weekly_slot(7, time(20), BERLIN, utc(2026, 3, 23, 0)) == utc(2026, 3, 29, 18)
    # Fall-back Sunday 2026-10-25: 20:00 is CET (19:00Z).
    assert weekly_slot(7, time(20), BERLIN, utc(2026, 10, 19, 0)) == utc(2026, 10, 25, 19)
    # A weekly time inside the gap is shifted, inside the overlap fires at first occurrence.
    assert weekly_slot(7, time(2, 30), BERLIN, utc(2026, 3, 23)) == utc(2026, 3, 29, 1)
    assert weekly_slot(7, time(2, 30), BERLIN, utc(2026, 10, 19)) == utc(2026, 10, 25, 0, 30)
    assert weekly_slot(7, time(2, 30), BERLIN, utc(2026, 10, 25, 0, 31)) == utc(2026, 11, 1, 1, 30)


def test_weekly_slot_late_utc_vs_local_date() -> None:
    # Sunday 23:30 UTC is Monday 00:30 in Berlin; Monday 00:15 Berlin weekly slot is next week.
    assert weekly_slot(1, time(0, 15), BERLIN, utc(2026, 1, 11, 23, 30)) == utc(2026, 1, 18, 23, 15)
    assert weekly_slot(1, time(0, 15), BERLIN, utc(2026, 1, 11, 23, 15)) == utc(2026, 1, 11, 23, 15)


def test_weekly_rule_method_and_validation() -> None:
    wr = parse_weekly_rule("sun", "20:00", "Europe/Berlin")
    assert wr.next_on_or_after(utc(2026, 1, 7)) == utc(2026, 1, 11, 19)
    with pytest.raises(ValueError, match="aware"):
        weekly_slot(7, time(20), BERLIN, datetime(2026, 1, 7))
    with pytest.raises(ValueError):
        weekly_slot(8, time(20), BERLIN, utc(2026, 1, 7))
