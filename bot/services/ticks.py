"""Scheduled ticks run once however many workers run: a lease on each tick, in the database.

Every worker fires the same jobs at the same moments (cron triggers at the posting slots and
the weekly digest; interval triggers aligned on one epoch, so their ticks coincide too). Before
running a tick, a worker takes the job's tick lease (:mod:`bot.store.leases`); the others see
it taken and skip that tick. A worker busy with its previous run does not compete, so the tick
goes to an idle one. If the winner dies mid-run, its lease runs out and the next tick (or a
late firing of the same one) is taken by another worker; the database stays the truth of what
is due, so nothing is lost in between.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.store import leases

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """This process, as named in the leases it holds: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class TickLeases:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        lease_seconds: float = 600.0,
        owner: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self.owner = owner or worker_name()
        self.won: list[tuple[str, datetime]] = []  # (job, tick) this worker ran
        self.running: set[asyncio.Task[Any]] = set()  # scheduled jobs in progress here

    async def take(self, job: str, tick: datetime) -> bool:
        now = self._clock()
        async with self._sessions.begin() as session:
            return await leases.take_tick(session, job, tick, self.owner, now, now + self._lease)

    async def finish(self, job: str, tick: datetime) -> None:
        async with self._sessions.begin() as session:
            await leases.finish_tick(session, job, tick, self.owner, self._clock())

    async def run(self, job: str, tick: datetime, fn: Callable[[], Awaitable[None]]) -> bool:
        """Run ``fn`` as ``job``'s ``tick`` if this worker takes the tick; True when it ran."""
        if not await self.take(job, tick):
            logger.debug("%s tick %s: taken by another worker", job, tick.isoformat())
            return False
        self.won.append((job, tick))
        await fn()
        await self.finish(job, tick)
        return True

    async def settle(self, seconds: float) -> None:
        """Wait (at most ``seconds``) for the scheduled jobs in progress here: at a
        stop, a lease being taken or finished is written rather than cut off."""
        current = asyncio.current_task()
        running = [task for task in self.running if task is not current and not task.done()]
        if running:
            await asyncio.wait(running, timeout=seconds)
