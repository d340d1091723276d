"""Posting slots: when the scheduler may publish, as pure functions of "now".

A :class:`SlotRule` lists local wall-clock times (e.g. 09:00, 13:00, 19:00) on a
set of ISO weekdays in one time zone.  :func:`iter_slots` turns it into aware
UTC instants strictly after a given moment.  Nothing here reads the clock: the
current time is always an argument.

Daylight-saving time.  A local wall time ``W`` on a date is resolved to the
*earliest instant whose local wall time is at or after* ``W``:

* a normal wall time maps to its only instant;
* an ambiguous wall time (autumn fall-back, the hour repeats) fires once, at its
  first occurrence (``fold=0``);
* a wall time that does not exist (spring-forward gap) is shifted forward to the
  first existing instant, i.e. the transition itself: in Europe/Berlin on
  2026-03-29, 02:30 becomes 03:00 CEST (01:00 UTC).

This resolution never goes backwards in time as the wall time grows, so slots
come out in order, no slot of the rule is skipped, and no two slots share an
instant.  The one consequence worth knowing: two slots that fall in the same gap
(or a gap slot and the wall time ending the gap, e.g. 02:30 and 03:00 on a
spring-forward day) resolve to the same instant and fire once, not twice.

The weekly digest announcement uses :class:`WeeklyRule` and :func:`weekly_slot`,
with the same DST resolution.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "SlotRule",
    "WeeklyRule",
    "assign_slots",
    "iter_slots",
    "next_slots",
    "parse_day",
    "parse_slot_rule",
    "parse_time",
    "parse_tz",
    "parse_weekly_rule",
    "resolve_local",
    "weekly_slot",
]

_DAY_NAMES: dict[str, int] = {
    "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
    "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5,
    "saturday": 6, "sunday": 7,
}  # fmt: skip
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class SlotRule:
    """Local posting times on some ISO weekdays (1=Mon..7=Sun) in one zone.

    Construction normalises ``times`` (sorted, duplicates removed) and checks
    that both ``times`` and ``days`` are non-empty and valid.
    """

    times: tuple[time, ...]
    days: frozenset[int]
    tz: ZoneInfo

    def __post_init__(self) -> None:
        times = tuple(sorted(set(self.times)))
        if not times:
            raise ValueError("slot rule needs at least one time")
        for t in times:
            _check_naive_time(t)
        days = frozenset(self.days)
        if not days:
            raise ValueError("slot rule needs at least one day")
        for d in days:
            _check_iso_day(d)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "days", days)


@dataclass(frozen=True)
class WeeklyRule:
    """One weekly instant: ISO weekday ``day`` at local wall time ``at`` in ``tz``."""

    day: int
    at: time
    tz: ZoneInfo

    def __post_init__(self) -> None:
        _check_iso_day(self.day)
        _check_naive_time(self.at)

    def next_on_or_after(self, moment: datetime) -> datetime:
        """The first weekly instant at or after ``moment`` (aware UTC)."""
        return weekly_slot(self.day, self.at, self.tz, moment)


def _check_iso_day(day: object) -> None:
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
        raise ValueError(f"day must be an ISO weekday 1..7, got {day!r}")


def _check_naive_time(t: object) -> None:
    if not isinstance(t, time) or t.tzinfo is not None:
        raise ValueError(f"slot time must be a naive datetime.time, got {t!r}")


# --------------------------------------------------------------------------- parsing


def parse_time(value: str) -> time:
    """Parse ``"HH:MM"`` (24-hour; a one-digit hour is accepted) into a time."""
    if not isinstance(value, str):
        raise ValueError(f"time must be a string 'HH:MM', got {value!r}")
    match = _TIME_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"time must look like 'HH:MM', got {value!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"time out of range (00:00..23:59), got {value!r}")
    return time(hour, minute)


def parse_day(value: str | int) -> int:
    """Parse a weekday: ``mon``..``sun``, full English names, or 1..7 (1=Monday)."""
    if isinstance(value, bool):
        raise ValueError(f"day must be mon..sun or 1..7, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _DAY_NAMES:
            return _DAY_NAMES[text]
        if not text.isdigit():
            raise ValueError(f"day must be mon..sun or 1..7, got {value!r}")
        number = int(text)
    else:
        raise ValueError(f"day must be mon..sun or 1..7, got {value!r}")
    if not 1 <= number <= 7:
        raise ValueError(f"day number must be 1..7 (1=Monday), got {value!r}")
    return number


def parse_tz(name: str) -> ZoneInfo:
    """Load an IANA time zone (e.g. ``"Europe/Berlin"``), or raise ValueError."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"time zone must be an IANA name like 'Europe/Berlin', got {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_slot_rule(times: Sequence[str], days: Sequence[str | int], tz: str) -> SlotRule:
    """Build a :class:`SlotRule` from config values; duplicates removed, times sorted."""
    if isinstance(times, str) or not times:
        raise ValueError(f"slot times must be a non-empty list of 'HH:MM', got {times!r}")
    if isinstance(days, str) or not days:
        raise ValueError(f"slot days must be a non-empty list of mon..sun or 1..7, got {days!r}")
    return SlotRule(
        times=tuple(parse_time(t) for t in times),
        days=frozenset(parse_day(d) for d in days),
        tz=parse_tz(tz),
    )


def parse_weekly_rule(day: str | int, at: str, tz: str) -> WeeklyRule:
    """Build a :class:`WeeklyRule` from config values (e.g. ``"sun", "20:00", "Europe/Berlin"``)."""
    return WeeklyRule(day=parse_day(day), at=parse_time(at), tz=parse_tz(tz))


# --------------------------------------------------------------------------- resolution


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """Naive local wall time of an aware instant in ``tz``."""
    return instant.astimezone(tz).replace(tzinfo=None)


def resolve_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The earliest UTC instant whose wall time in ``tz`` is at or after ``day`` ``at``.

    Existing times map to themselves, ambiguous ones to their first occurrence,
    non-existent ones (DST gap) to the end of the gap.
    """
    wall = datetime.combine(day, at)
    first_guess = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first_guess, tz) == wall:
        return first_guess
    # In a gap: the fold=0 and fold=1 readings bracket the transition instant.
    other_guess = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = sorted((first_guess, other_guess))
    return _first_instant_at_or_after(wall, tz, low, high)


def _first_instant_at_or_after(
    wall: datetime, tz: ZoneInfo, low: datetime, high: datetime
) -> datetime:
    """Binary search (1 s resolution) for the first instant in [low, high] with wall >= ``wall``."""
    if _wall(low, tz) >= wall:
        return low
    lo, hi = 0, int((high - low).total_seconds())  # invariant: lo fails, hi passes
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wall(low + timedelta(seconds=mid), tz) >= wall:
            hi = mid
        else:
            lo = mid
    return low + timedelta(seconds=hi)


# --------------------------------------------------------------------------- iteration


def _iter_resolved(
    times: tuple[time, ...],
    days: Collection[int],
    tz: ZoneInfo,
    start: datetime,
    keep: Callable[[datetime], bool],
) -> Iterator[datetime]:
    """Resolved instants from the local date before ``start`` on, filtered by ``keep``.

    Starting a day early covers a slot shifted across midnight by a gap.
    Resolution is monotonic, so skipping instants not after the last one only
    removes exact duplicates.
    """
    day = start.astimezone(tz).date() - timedelta(days=1)
    last: datetime | None = None
    while True:
        if day.isoweekday() in days:
            for at in times:
                instant = resolve_local(day, at, tz)
                if (last is None or instant > last) and keep(instant):
                    last = instant
                    yield instant
        day += timedelta(days=1)


def iter_slots(rule: SlotRule, after: datetime) -> Iterator[datetime]:
    """All slots of ``rule`` strictly after ``after`` (aware), as aware UTC datetimes, in order.

    Infinite; see the module docstring for DST handling.
    """
    _require_aware(after, "after")
    return _iter_resolved(rule.times, rule.days, rule.tz, after, lambda s: s > after)


def next_slots(rule: SlotRule, after: datetime, n: int) -> list[datetime]:
    """The next ``n`` slots strictly after ``after``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return list(islice(iter_slots(rule, after), n))


def assign_slots(
    rule: SlotRule, after: datetime, count: int, taken: Collection[datetime]
) -> list[datetime]:
    """The next ``count`` slots strictly after ``after`` that are not in ``taken``.

    ``taken`` holds aware datetimes in any zone; they are compared as instants.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    for t in taken:
        _require_aware(t, "taken slot")
    busy = {t.astimezone(UTC) for t in taken}
    free = (s for s in iter_slots(rule, after) if s not in busy)
    return list(islice(free, count))


def weekly_slot(day: int, at: time, tz: ZoneInfo, on_or_after: datetime) -> datetime:
    """The first instant on ISO weekday ``day`` at local ``at`` in ``tz``, at or after a moment.

    Returns aware UTC; DST resolution as for posting slots.
    """
    _check_iso_day(day)
    _check_naive_time(at)
    _require_aware(on_or_after, "on_or_after")
    slots = _iter_resolved((at,), (day,), tz, on_or_after, lambda s: s >= on_or_after)
    return next(slots)
