"""Posting slots a maintainer changed at run time (issue 8).

The config (``schedule.slots``, ``schedule.days``) is the default. ``/slots`` or ``digestbot
queue slots --set`` stores an override in ``runtime_state`` (key ``schedule:slots``, JSON
``{"times": [...], "days": [...]}``); every process reads it in the transaction that assigns
slots, so a change is in force at once and survives restarts. ``--reset`` removes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ScheduleSettings
from bot.domain.slots import SlotRule, parse_day, parse_slot_rule, parse_time
from bot.errors import DigestbotError
from bot.store import queue as repo

SLOTS_KEY = "schedule:slots"
MAX_TIMES = 24
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SlotsError(DigestbotError, ValueError):
    """Slots that cannot be used; the message says which value is wrong."""


@dataclass(frozen=True, slots=True)
class Slots:
    times: list[str]  # "HH:MM", sorted, no duplicates
    days: list[str]  # mon..sun, in week order
    overridden: bool  # stored by a maintainer (else: the config)

    def as_json(self) -> dict[str, object]:
        return {"times": self.times, "days": self.days, "overridden": self.overridden}


def normalize(times: Sequence[str], days: Sequence[str]) -> tuple[list[str], list[str]]:
    """Checked, sorted, deduplicated ``HH:MM`` times and ``mon``..``sun`` days."""
    if isinstance(times, str) or not times:
        raise SlotsError("give at least one posting time, like 09:00")
    if isinstance(days, str) or not days:
        raise SlotsError("give at least one day, like mon or 1 (Monday)")
    try:
        parsed = sorted({parse_time(t) for t in times})
        numbers = sorted({parse_day(d) for d in days})
    except ValueError as exc:
        raise SlotsError(str(exc)[:200]) from None
    if len(parsed) > MAX_TIMES:
        raise SlotsError(f"at most {MAX_TIMES} posting times a day, got {len(parsed)}")
    return [t.strftime("%H:%M") for t in parsed], [DAY_NAMES[n - 1] for n in numbers]


def config_slots(schedule: ScheduleSettings) -> Slots:
    times, days = normalize(schedule.slots, schedule.days)
    return Slots(times, days, overridden=False)


def decode(value: str | None) -> tuple[list[str], list[str]] | None:
    """The stored override, or None when there is none or it cannot be read."""
    if not value:
        return None
    try:
        data = json.loads(value)
        return normalize(list(data["times"]), list(data["days"]))
    except (ValueError, KeyError, TypeError):
        return None


async def current_slots(session: AsyncSession, schedule: ScheduleSettings) -> Slots:
    stored = decode(await repo.get_state(session, SLOTS_KEY))
    if stored is None:
        return config_slots(schedule)
    return Slots(stored[0], stored[1], overridden=True)


async def current_slot_rule(session: AsyncSession, schedule: ScheduleSettings) -> SlotRule:
    """The rule that assigns paper slots now: the stored override, else the config's."""
    slots = await current_slots(session, schedule)
    return parse_slot_rule(slots.times, slots.days, schedule.timezone)


async def store_slots(
    session: AsyncSession, times: list[str] | None, days: list[str] | None, now: datetime
) -> None:
    """Store an override (both given) or remove it (None: back to the config)."""
    value = None if times is None or days is None else json.dumps({"times": times, "days": days})
    await repo.set_state(session, SLOTS_KEY, value, now)
