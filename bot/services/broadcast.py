"""Broadcast to subscribers: the private-chat deliveries of the ledger, claimed in batches and
sent concurrently under one limiter.

One loop owns the pace: it reserves a batch of slots in one database transaction (the claim:
compare-and-set, stamped with each slot, leased; see :mod:`bot.services.pace`), then launches
each send when its slot comes, as an asyncio task, with a bounded number in flight. Outcomes
are recorded in batches (a group commit: whatever finished while the last write ran is written
next; while sends leave back to back, a write waits for ``flush_at`` outcomes, and launching
waits for the write when ``in_flight`` are unwritten), failures one by one through the ledger's
usual rules. A ``retry_after`` pauses the platform: nothing more is launched, the claims not
yet sent are released to the pause's end.
A crash leaves claims behind: their lease runs out and the unknown-outcome policy resends
them, so copies beyond one are bounded by the sends in flight and the outcomes not yet
written (both bounded by ``in_flight``) plus the batch reserved ahead (never sent, so no copy).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.domain.send_slots import LaunchGate
from bot.publish.base import (
    Outgoing,
    Publisher,
    PublishError,
    RateLimited,
    Transient,
    Unauthorized,
)
from bot.publish.notify import Notifier
from bot.services.compose import compose_post
from bot.services.ledger import Ledger, Round, TickReport
from bot.services.pace import MARGIN, SHARED_MARGIN, TelegramPace
from bot.store import queue as repo
from bot.store.queue import LedgerRow

logger = logging.getLogger("bot.services.dispatch")
LONG_BROADCAST = 100  # subscribers: from this many on, the maintainer sees the progress
PROGRESS_SECONDS = 10.0  # a long broadcast's progress message is edited this often
GATE_WINDOW = timedelta(seconds=1) + MARGIN / 2  # Telegram's second, plus network wobble
MAX_BATCHES = 100_000  # a bound on one run's loop, never reached in practice
EARLY = timedelta(milliseconds=1)  # a send may leave this much before its moment (no sleep)
OVERSLEEP = timedelta(milliseconds=5)  # a sleep's usual lateness, not a stall
# while another process sends too, a send this late for its slot takes a new one instead
LATE = MARGIN / 2


def late_after(per_second: int) -> timedelta:
    """How late a shared send may leave before its claims are reserved again. The shared plan
    keeps every window of 1 s + SHARED_MARGIN within the limits, so a send up to half that
    margin late still lands in a planned window, the other half left for network wobble: at a
    paid pace, where re-reserving on every 20 ms stall halved two workers' throughput. At
    Telegram's 30/s the strict LATE keeps more of the margin for arrival jitter (with 50 ms, one
    CI run of the four-worker cluster test on two busy cores saw 31 arrivals in a second)."""
    return SHARED_MARGIN / 2 if per_second > 30 else LATE
IDLE = timedelta(milliseconds=4)  # a wait this long for the next slot: write the outcomes


def batch_size(per_second: int) -> int:
    """Deliveries claimed per transaction: about half a second of slots (at least 8)."""
    return max(8, min(500, per_second // 2))


def in_flight(per_second: int) -> int:
    """Sends awaiting their answer at once: enough for a 100 ms round trip at 30 a second, and
    for 60 ms at a paid 1,000 a second (a busy machine stalls the answers for tens of ms)."""
    return max(4, min(64, per_second // 15))


def flush_at(per_second: int) -> int:
    """Outcomes gathered before they are written in one transaction while sends leave
    back to back (a write costs about a millisecond of CPU, so one a send would cap a paid
    broadcast); a run that waits for its next slot writes what it has first. At Telegram's
    free 30 a second each outcome is written as it comes (a group commit, as before)."""
    if per_second <= 30:
        return 1
    return max(1, in_flight(per_second) // 2)


class Broadcaster:
    def __init__(
        self,
        ledger: Ledger,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
        publishers: Mapping[str, Publisher],
        notifier: Notifier,
        pace: TelegramPace,
        sleep: Callable[[float], Awaitable[None]],
        *,
        simulated: bool = False,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        """``simulated``: ``sleep`` moves a simulated clock (tests): the sends in flight are
        awaited before it moves, so that each arrives at its own slot's moment."""
        self._ledger = ledger
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._lease = float(settings.delivery.lease_seconds)
        self._publishers = publishers
        self._notifier = notifier
        self._pace = pace
        self._sleep = sleep
        self._simulated = simulated
        self._stopping = stopping
        self._per_second = pace.per_second
        self.batch = batch_size(self._per_second)
        self.in_flight = in_flight(self._per_second)
        self.flush_at = flush_at(self._per_second)
        self.late = late_after(self._per_second)

    async def run(
        self, now: datetime, report: TickReport, state: Round, horizon: repo.Horizon | None
    ) -> None:
        """Send every due private-chat delivery, at the pace, until none is left, the platform
        pauses, an unknown outcome makes Telegram probe, or the dispatcher stops."""
        publisher = self._publishers.get("telegram")
        if publisher is None or "telegram" in state.paused or state.probing:
            return
        run = _Run(self, publisher, report, state, horizon, max(now, self._clock()))
        await run.go()


class _Run:
    """One broadcast loop: the queue of reserved slots, the sends in flight, the outcomes not
    yet written."""

    def __init__(
        self,
        owner: Broadcaster,
        publisher: Publisher,
        report: TickReport,
        state: Round,
        horizon: repo.Horizon | None,
        moment: datetime,
    ) -> None:
        self.o = owner
        self.publisher = publisher
        self.report = report
        self.state = state
        self.horizon = horizon
        self.moment = moment  # the loop's view of now (a frozen clock moves only by our sleeps)
        self.slots: deque[tuple[LedgerRow, datetime]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self.room = asyncio.Semaphore(owner.in_flight)
        self.gate = LaunchGate(owner._per_second, GATE_WINDOW, MARGIN * 0.6)
        self.done: list[tuple[int, str | None, str | None]] = []
        self.flushing: asyncio.Task[None] | None = None
        self.refill: asyncio.Task[None] | None = None
        self.mine: set[int] = set()  # claimed by this run (others' slots: another process)
        self.shared = False  # another process sends too: a late send takes a new slot
        self.fatal: BaseException | None = None
        self.halt_until: datetime | None = None  # a pause: unsent claims wait until then
        self.halted = False
        self.exhausted = False
        self.last_progress = moment

    def now(self) -> datetime:
        self.moment = max(self.moment, self.o._clock())
        return self.moment

    async def go(self) -> None:
        try:
            for _ in range(MAX_BATCHES * self.o.batch):
                if self.fatal is not None or self.halted or self.o._stopping():
                    break
                low = len(self.slots) <= self.o.batch // 2
                if low and not self.exhausted and self.refill is None:
                    # the next batch is reserved while this one is sent
                    self.refill = asyncio.create_task(self.reserve())
                if not self.slots and self.refill is not None:
                    refill, self.refill = self.refill, None
                    await refill
                    continue
                if self.refill is not None and self.refill.done():
                    refill, self.refill = self.refill, None
                    await refill  # its outcome (a database error is raised here)
                if not self.slots:
                    break  # exhausted
                await self.launch_next()
                await self.show_progress()
            if self.refill is not None:  # reserved and not sent: released below
                refill, self.refill = self.refill, None
                await refill
        except BaseException:
            for task in self.tasks:
                task.cancel()
            if self.refill is not None:
                self.refill.cancel()
            raise
        if self.fatal is not None:
            self.die()
        outcomes = await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.fatal is not None:
            self.die()
        await self.release_unsent()
        await self.flush_all()
        for outcome in outcomes:  # a ledger write that failed (database locked): the tick says so
            if isinstance(outcome, BaseException):
                raise outcome

    def die(self) -> None:
        """Something that is no publishing error (like the process dying) ends the run at
        once: nothing more is written, the leases take care of the rest."""
        for task in self.tasks:
            task.cancel()
        assert self.fatal is not None
        raise self.fatal

    async def reserve(self) -> None:
        result = await self.o._ledger.write(
            self.o._pace.reserve,
            self.now(),
            self.o._lease,
            limit=self.o.batch,
            horizon=self.horizon,
            own=self.mine,
        )
        self.slots.extend(result.claimed)
        self.mine.update(row.id for row, _ in result.claimed)
        self.shared = result.shared
        for row, due in result.waiting:
            wait = (due - self.moment).total_seconds()
            self.report.retrying.append((row.post_id, row.destination, f"pacing {wait:.1f}s"))
        if not (result.claimed or result.waiting or result.lost):
            self.exhausted = True
        missing = {row.post_id for row, _ in result.claimed} - set(self.state.composed)
        for post_id in sorted(missing):
            async with self.o._sessions() as session:
                self.state.composed[post_id] = await compose_post(
                    session, post_id, self.o._settings
                )

    async def launch_next(self) -> None:
        row, at = self.slots[0]
        if self.shared and self.now() - at > self.o.late:  # the slot is gone: take a new one
            await self.reslot()
            return
        go = self.gate.wait_until(max(at, self.now()))
        if go - self.moment > IDLE and self.done:
            self.start_flush()  # time to spare: the outcomes so far are written meanwhile
        if go - self.moment > EARLY:
            if self.o._simulated:  # the sends in flight arrive, and are written, before
                await asyncio.gather(*self.tasks)  # the simulated clock moves
                if self.fatal is not None or self.halted:
                    return
                await self.flush_all()
            await self.o._sleep((go - self.moment).total_seconds())
            self.moment = max(go, self.o._clock())
        if len(self.done) >= self.o.in_flight:  # outcomes not yet written stay bounded by
            self.start_flush()  # the sends in flight
            assert self.flushing is not None
            await self.flushing
            self.now()
        if self.fatal is not None or self.halted or self.o._stopping():
            return
        self.slots.popleft()
        outgoing = self.state.composed.get(row.post_id)
        if outgoing is None:
            reason = "the post no longer exists"
            await self.o._ledger.fail(row, self.now(), "cancelled", reason, self.report)
            return
        await self.room.acquire()
        launched = max(self.moment, go)
        # the gate spaces sends from their moments: a sleep's usual overshoot (or a launch up
        # to EARLY before) must not push every later send back; a real stall does
        nominal = go if launched - go <= OVERSLEEP else launched
        number = self.gate.record(nominal)
        task = asyncio.create_task(self.send(row, at, outgoing, number, launched))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        await asyncio.sleep(0)  # the send leaves now, not with the next ones

    async def send(
        self, row: LedgerRow, at: datetime, outgoing: Outgoing, number: int, launched: datetime
    ) -> None:
        try:
            try:
                result = await self.publisher.send(row.destination, outgoing)
                self.gate.answered(number, launched, max(launched, self.o._clock()))
            except PublishError as exc:
                await self.on_error(row, at, exc)
                return
            except Exception as exc:  # an adapter bug must not lose the post
                logger.exception("publisher telegram crashed on post %s", row.post_id)
                await self.on_error(row, at, Transient(f"{type(exc).__name__}: {exc}"))
                return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the process dies: the run ends, nothing more is written
            self.fatal = exc
            return
        finally:
            self.room.release()
        note = "already posted (duplicate content)" if result.duplicate else None
        self.done.append((row.id, result.remote_id, note))
        self.report.sent.append((row.post_id, row.destination))
        self.state.broadcasts.add(row.post_id)
        logger.debug("post %s sent to %s (%s)", row.post_id, row.destination, result.remote_id)
        if len(self.done) >= self.o.flush_at:
            self.start_flush()

    def start_flush(self) -> None:
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self.flush())

    async def on_error(self, row: LedgerRow, at: datetime, exc: PublishError) -> None:
        now = max(at, self.o._clock())
        if isinstance(exc, RateLimited | Unauthorized):
            self.state.paused.add("telegram")
            seconds = exc.retry_after if isinstance(exc, RateLimited) else 0.0
            resume = now + timedelta(seconds=seconds)
            self.halt_until = max(self.halt_until or resume, resume)
            self.halted = True
        if isinstance(exc, Transient) and exc.maybe_sent:
            self.state.probing = self.state.probed = True
            self.halted = True
        await self.o._ledger.on_error(row, exc, now, self.report)

    async def flush(self) -> None:
        """Write the outcomes gathered so far in one transaction; those that finish meanwhile
        wait for the next write (group commit)."""
        while self.done:
            batch, self.done = self.done, []
            await self.o._ledger.write(repo.finish_sent_many, batch, self.o._clock())

    async def flush_all(self) -> None:
        if self.flushing is not None:
            await self.flushing
        await self.flush()

    async def reslot(self) -> None:
        """While another process sends too: claims whose slot passed before they could leave
        (a busy event loop) go back to pending, due now, and are reserved again after every
        slot granted meanwhile, so that a send never leaves long after a slot the other
        process built on. (Alone, the launch gate makes a late run catch up without a burst.)"""
        stale: list[int] = []
        while self.slots and self.moment - self.slots[0][1] > self.o.late:
            stale.append(self.slots.popleft()[0].id)
        await self.o._ledger.write(repo.release_claims, stale, self.moment, self.moment)
        logger.debug("%d claims missed their slot; reserved again", len(stale))

    async def release_unsent(self) -> None:
        """Claims reserved and never launched (a pause, a stop) go back to pending."""
        if not self.slots:
            return
        ids = [row.id for row, _ in self.slots]
        self.slots.clear()
        now = self.now()
        due = max(now, self.halt_until or now)
        await self.o._ledger.write(repo.release_claims, ids, due, now)

    async def show_progress(self) -> None:
        if (self.moment - self.last_progress).total_seconds() < PROGRESS_SECONDS:
            return
        self.last_progress = self.moment
        await show_broadcasts(self.o._sessions, self.o._notifier, self.state.broadcasts)


async def show_broadcasts(
    sessions: async_sessionmaker[AsyncSession], notifier: Notifier, posts: set[int]
) -> None:
    """A long broadcast's progress for the maintainer: sent / total and failures, one message
    per post edited in place, "finished" at the end."""
    for post_id in sorted(posts):
        async with sessions() as session:
            counts = await repo.broadcast_counts(session, post_id)
        total = sum(counts.values())
        if total < LONG_BROADCAST:
            continue
        sent = counts.get("sent", 0)
        blocked = counts.get("cancelled", 0)
        failed = sum(counts.get(s, 0) for s in ("failed", "dead", "parked"))
        waiting = counts.get("pending", 0) + counts.get("sending", 0)
        done = "finished" if not waiting else f"{waiting:,} to go"
        await notifier.progress(
            f"broadcast:{post_id}",
            f"broadcast of post {post_id}: {sent:,} / {total:,} sent, {blocked:,} blocked, "
            f"{failed:,} failed; {done}",
        )
