"""Leases on scheduled ticks: each tick of each job is taken by one worker, however many run.

One ``runtime_state`` row per job (its lock row, key ``lock:tick:<job>``) holds a small JSON
record: the tick (the job's scheduled moment), the owner, until when the owner's lease runs,
and whether the run finished. A worker takes a tick when the row names an earlier tick, or
names this tick unfinished with its lease run out (its owner died mid-run). The decision is
made under the lock on that row (PostgreSQL: the upsert's row lock; SQLite: the write lock the
upsert takes), so of the workers that fire the same tick exactly one wins. Never commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.queue import get_state, set_state, take_lock


@dataclass(frozen=True, slots=True)
class TickLease:
    tick: datetime
    owner: str
    until: datetime
    done: bool = False

    def encode(self) -> str:
        return json.dumps(
            {
                "tick": self.tick.isoformat(),
                "owner": self.owner,
                "until": self.until.isoformat(),
                "done": self.done,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: str | None) -> TickLease | None:
        """The stored record; None when there is none or it cannot be read (then it is free)."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(
                datetime.fromisoformat(data["tick"]),
                str(data["owner"]),
                datetime.fromisoformat(data["until"]),
                bool(data["done"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def lets_take(self, tick: datetime, now: datetime) -> bool:
        """Whether another worker may take ``tick`` now that this record is stored."""
        if tick > self.tick:
            return True
        return tick == self.tick and not self.done and self.until < now


def _name(job: str) -> str:
    return f"tick:{job}"


def _key(job: str) -> str:
    """The lock row of ``job``'s ticks, which also holds its record."""
    return f"lock:{_name(job)}"


async def take_tick(
    session: AsyncSession, job: str, tick: datetime, owner: str, now: datetime, until: datetime
) -> bool:
    """Take ``job``'s ``tick`` for ``owner`` (leased until ``until``); False when another
    worker has it, has finished it, or has taken a later tick."""
    await take_lock(session, _name(job), now)
    current = TickLease.decode(await get_state(session, _key(job)))
    if current is not None and not current.lets_take(tick, now):
        return False
    await set_state(session, _key(job), TickLease(tick, owner, until).encode(), now)
    return True


async def finish_tick(
    session: AsyncSession, job: str, tick: datetime, owner: str, now: datetime
) -> bool:
    """Mark ``owner``'s run of ``tick`` finished (nobody takes that tick again); False when
    the record is no longer this owner's (its lease ran out and another worker took over)."""
    await take_lock(session, _name(job), now)
    current = TickLease.decode(await get_state(session, _key(job)))
    if current is None or current.tick != tick or current.owner != owner:
        return False
    done = TickLease(current.tick, current.owner, current.until, done=True)
    await set_state(session, _key(job), done.encode(), now)
    return True


async def read_tick(session: AsyncSession, job: str) -> TickLease | None:
    return TickLease.decode(await get_state(session, _key(job)))
