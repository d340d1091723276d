"""Platform pauses (a 429's wait, rejected credentials): in ``runtime_state`` with a reason.

No pause this bot sets is longer than ``LONGEST_SECONDS``; one that ends further ahead was left
by a run at a travelled ``--now`` and is ignored, so a rehearsal of the future cannot block real
runs. ``queue resume`` clears every pause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import queue as repo
from bot.store.models import Setting

PREFIX = "pause:"
PLATFORMS = ("x", "telegram")
LONGEST_SECONDS = 86_400.0  # longer retry_after values are capped to this
_LONGEST = timedelta(seconds=LONGEST_SECONDS)


@dataclass(frozen=True, slots=True)
class Pause:
    platform: str
    until: datetime  # UTC
    reason: str


def encode(until: datetime, reason: str) -> str:
    return json.dumps({"until": until.isoformat(), "reason": reason}, ensure_ascii=False)


def decode(platform: str, value: str | None) -> Pause | None:
    """None for a missing or unreadable value (an old plain timestamp from before reasons were
    stored is dropped)."""
    if not value:
        return None
    try:
        data = json.loads(value)
        return Pause(platform, datetime.fromisoformat(data["until"]), str(data["reason"]))
    except (ValueError, KeyError, TypeError):
        return None


async def active_pauses(session: AsyncSession, now: datetime) -> list[Pause]:
    """Pauses still running at ``now`` (none that ends beyond the longest pause we set)."""
    rows = await session.execute(
        select(Setting.key, Setting.value).where(Setting.key.in_([PREFIX + p for p in PLATFORMS]))
    )
    pauses = [decode(key.removeprefix(PREFIX), value) for key, value in rows]
    return sorted(
        (p for p in pauses if p is not None and now < p.until <= now + _LONGEST),
        key=lambda p: p.platform,
    )


async def set_pause(
    session: AsyncSession, platform: str, until: datetime, reason: str, now: datetime
) -> None:
    value = encode(min(until, now + _LONGEST), reason)
    await repo.set_state(session, PREFIX + platform, value, now)


async def clear_pauses(session: AsyncSession, now: datetime) -> None:
    for platform in PLATFORMS:
        await repo.set_state(session, PREFIX + platform, None, now)
