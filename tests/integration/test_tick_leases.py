"""Scheduled ticks run once however many workers run (issue 11), on SQLite and PostgreSQL.

Purpose: four workers' schedulers, each with its own engine, fire the same jobs at the same
moments on one injected clock; each tick of each job (posting slots, the weekly digest, the
poll, the feeds) must run in exactly one of them. A worker still busy with its last tick
leaves the next one to an idle worker; a worker that died mid-tick leaves it to another once
its lease has run out; a finished tick is never run again.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.config import load_settings
from bot.scheduler import make_scheduler
from bot.services.ticks import TickLeases
from bot.store.db import make_engine, make_sessionmaker
from bot.store.migrate import upgrade

WORKERS = 4
SLOT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday 19:00 in Tokyo: slot-19:00


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("db_url" if request.param == "sqlite" else "pg_url")
    upgrade(url)
    return url


@dataclass
class Counting:
    """A worker's wake-up (or feed poll): counts its runs; ``busy`` like the Waker's."""

    calls: list[datetime] = field(default_factory=list)
    clock: FrozenClock | None = None
    busy: bool = False

    async def __call__(self) -> None:
        assert self.clock is not None
        self.calls.append(self.clock())


@dataclass
class Worker:
    engine: AsyncEngine
    ticks: TickLeases
    wake: Counting
    feeds: Counting
    jobs: dict[str, Callable[[], Awaitable[None]]]


@pytest.fixture
async def workers(store_url: str, clock: FrozenClock) -> AsyncIterator[list[Worker]]:
    settings = load_settings(database_url=store_url, feeds={"poll_minutes": 30})
    made: list[Worker] = []
    for i in range(WORKERS):
        engine = make_engine(store_url)
        sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
        ticks = TickLeases(sessions, clock, lease_seconds=120, owner=f"worker-{i}")
        wake, feeds = Counting(clock=clock), Counting(clock=clock)
        scheduler = make_scheduler(settings, wake, feeds, ticks=ticks, clock=clock)
        jobs = {job.id: job.func for job in scheduler.get_jobs()}
        made.append(Worker(engine, ticks, wake, feeds, jobs))
    try:
        yield made
    finally:
        for worker in made:
            await worker.engine.dispose()


_ORDER = random.Random(11)


async def fire(workers: list[Worker], job: str) -> None:
    """Every worker's scheduler fires ``job`` at once, in a seeded order that changes with each
    firing (a fixed order let the same worker win every tick)."""
    order = _ORDER.sample(workers, len(workers))
    await asyncio.gather(*(w.jobs[job]() for w in order))


def runs(workers: list[Worker], feeds: bool = False) -> int:
    return sum(len((w.feeds if feeds else w.wake).calls) for w in workers)


async def test_each_tick_of_each_job_runs_in_exactly_one_of_four_workers(
    workers: list[Worker], clock: FrozenClock
) -> None:
    clock.set(SLOT + timedelta(milliseconds=300))  # the schedulers fire a moment late
    await fire(workers, "slot-19:00")
    assert runs(workers) == 1
    clock.advance(seconds=2)  # a late duplicate firing of the same tick (a slow worker)
    await fire(workers, "slot-19:00")
    assert runs(workers) == 1

    # the poll: ticks every 5 s on one epoch for every worker; 60 ticks, each fired by all
    start = runs(workers)
    for k in range(1, 61):
        clock.set(SLOT + timedelta(seconds=5 * k, milliseconds=300))
        await fire(workers, "poll")
        clock.advance(seconds=1)  # the same tick fired again within its 5 s (a slow worker)
        await fire(workers, "poll")
    assert runs(workers) - start == 60
    ticks = [t for w in workers for job, t in w.ticks.won if job == "poll"]
    assert len(ticks) == len(set(ticks)) == 60
    assert len({w.ticks.owner for w in workers if any(j == "poll" for j, _ in w.ticks.won)}) > 1

    clock.set(datetime(2026, 3, 8, 11, 0, 0, 500_000, tzinfo=UTC))  # Sunday 20:00 Tokyo
    before = runs(workers)
    await fire(workers, "weekly-digest")
    await fire(workers, "weekly-digest")
    assert runs(workers) == before + 1

    for _ in range(3):  # the feeds: every 30 minutes, one poll each
        await fire(workers, "feeds")
        clock.advance(minutes=10)
        await fire(workers, "feeds")
        clock.advance(minutes=20)
    assert runs(workers, feeds=True) == 3


async def test_a_busy_worker_leaves_the_tick_to_an_idle_one(
    workers: list[Worker], clock: FrozenClock
) -> None:
    workers[0].wake.busy = True  # still running its last tick
    clock.set(SLOT)
    for _ in range(20):
        clock.advance(seconds=5)
        await fire(workers, "poll")
    assert workers[0].wake.calls == [] and runs(workers) == 20
    for worker in workers:
        worker.wake.busy = True  # everybody busy: nobody takes it (each is working already)
    clock.advance(seconds=5)
    await fire(workers, "poll")
    assert runs(workers) == 20


async def test_a_tick_whose_worker_died_is_taken_over_only_after_its_lease(
    workers: list[Worker], clock: FrozenClock
) -> None:
    dead, other, third = workers[0].ticks, workers[1].ticks, workers[2].ticks
    clock.set(SLOT)
    assert await dead.take("poll", SLOT)  # ... and the process dies: never finished
    calls: list[str] = []

    async def job() -> None:
        calls.append("ran")

    assert not await other.run("poll", SLOT, job)  # its lease still runs
    clock.advance(seconds=121)
    assert await other.run("poll", SLOT, job)  # the lease ran out: taken over, once
    assert not await third.run("poll", SLOT, job)  # finished: never again
    clock.advance(seconds=600)
    assert not await third.run("poll", SLOT, job)
    assert not await third.run("poll", SLOT - timedelta(seconds=5), job)  # an older tick
    assert calls == ["ran"]
    assert Counter(j for j, _ in other.won) == {"poll": 1}


async def test_a_stop_waits_for_a_tick_in_progress_and_a_cancelled_one_is_no_error(
    workers: list[Worker], clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """At a stop the worker waits (briefly) for the scheduled jobs in progress; one the
    scheduler cancels at shutdown ends quietly (an INFO line, no traceback), not as an error."""
    import logging

    from bot.scheduler import leased

    worker = workers[0]
    gate, entered = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        entered.set()
        await gate.wait()

    trigger = make_scheduler(load_settings(), slow).get_job("poll").trigger
    run = leased("poll", trigger, slow, worker.ticks, clock)
    clock.set(SLOT)
    first = asyncio.create_task(run())
    await asyncio.wait_for(entered.wait(), 30)  # it took its tick and waits in the job
    assert len(worker.ticks.won) == 1 and worker.ticks.running == {first}
    gate.set()
    await worker.ticks.settle(5.0)
    assert first.done() and worker.ticks.running == set()

    gate.clear()
    entered.clear()
    clock.advance(seconds=5)
    second = asyncio.create_task(run())
    await asyncio.wait_for(entered.wait(), 30)
    with caplog.at_level(logging.INFO):
        second.cancel()
        assert await second is None  # what APScheduler awaits: no exception to log
    assert "poll: stopped during its tick" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert worker.ticks.running == set()
