"""Quiet hours: when a message held for a subscriber may be released. Pure (no I/O, no clock).

A quiet period is two wall-clock times in the subscriber's time zone, start inclusive and end
exclusive; a start after the end spans midnight (23:00-07:00). Daylight-saving days are handled
on the wall clock: a period ends at the first instant the local clock shows its end time or
later (the moment the clock jumps, when the end time does not exist that night; the first of
the two instants not yet past, when it exists twice).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class BadQuietTime(ValueError):
    """Not a wall-clock time ``HH:MM`` (00:00-23:59)."""


class UnknownTimezone(ValueError):
    """Not an IANA time zone name."""


def parse_hhmm(text: str) -> time:
    """``"7:05"`` / ``"07:05"`` -> time(7, 5); BadQuietTime for anything else (``"25:00"``)."""
    m = _HHMM.fullmatch(text.strip())
    if m is None:
        raise BadQuietTime(f"{text.strip()[:20]!r} is not a time of day (HH:MM, 00:00-23:59)")
    return time(int(m.group(1)), int(m.group(2)))


def normalize_hhmm(text: str) -> str:
    """The canonical ``HH:MM`` spelling of a time of day (``"7:05"`` -> ``"07:05"``)."""
    return parse_hhmm(text).strftime("%H:%M")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; UnknownTimezone when there is none."""
    try:
        if not name or name != name.strip() or len(name) > 64:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezone(f"unknown time zone {name.strip()[:64]!r}") from exc


def is_quiet(now: datetime, quiet_start: str | None, quiet_end: str | None, timezone: str) -> bool:
    return release_time(now, quiet_start, quiet_end, timezone) != now


def release_time(
    now: datetime, quiet_start: str | None, quiet_end: str | None, timezone: str
) -> datetime:
    """``now`` when it is outside the quiet hours, else the end of the quiet period (UTC).

    ``now`` must be aware. No quiet hours (either time None, or start == end): ``now``."""
    if now.tzinfo is None:
        raise ValueError("release_time needs an aware datetime")
    if quiet_start is None or quiet_end is None:
        return now
    start, end = parse_hhmm(quiet_start), parse_hhmm(quiet_end)
    if start == end:
        return now
    tz = zone(timezone)
    local = now.astimezone(tz)
    wall = local.time().replace(tzinfo=None, fold=0)
    today = local.date()
    if start < end:
        if not start <= wall < end:
            return now
        ends_on = today
    elif wall >= start:
        ends_on = today + timedelta(days=1)
    elif wall < end:
        ends_on = today
    else:
        return now
    return _first_instant_at(ends_on, end, tz, not_before=now)


def _first_instant_at(day: date, wall: time, tz: ZoneInfo, *, not_before: datetime) -> datetime:
    """The first UTC instant from ``not_before`` on at which the clock in ``tz`` shows ``day``
    ``wall`` or later."""
    early = datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)  # fold=0: the first one
    if _wall(early, tz) == datetime.combine(day, wall):
        if early >= not_before:
            return early
        # the clock went back and shows this time again (the autumn repeat): the second one
        return datetime.combine(day, wall, tzinfo=tz).replace(fold=1).astimezone(UTC)
    # the wall time does not exist (the clock jumps over it): find the jump, to the second
    low = datetime.combine(day, wall, tzinfo=tz).replace(fold=1).astimezone(UTC)
    high = early
    if low > high:
        low, high = high, low
    target = datetime.combine(day, wall)
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _wall(middle, tz) >= target:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if _wall(high.replace(microsecond=0), tz) >= target else high


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)
