"""APScheduler wiring. Jobs only wake the dispatcher; the database decides what is due.

With ``ticks`` (the worker), each tick of each job runs in one worker however many run: the
tick is the job's scheduled moment, computed from its trigger on the injected clock, and taken
with a lease in the database (:mod:`bot.services.ticks`). Interval triggers start on a common
epoch, so every worker's ticks fall on the same moments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.services.ticks import TickLeases

Job = Callable[[], Awaitable[None]]
logger = logging.getLogger(__name__)
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # every worker's interval ticks fall on the same moments
LOOKBACK = timedelta(days=8)  # a cron tick is found within this much before now (weekly jobs)


def last_tick(trigger: BaseTrigger, now: datetime) -> datetime:
    """The latest moment at or before ``now`` at which ``trigger`` fires (``now`` if none in
    :data:`LOOKBACK`): the tick a firing at ``now`` belongs to."""
    if isinstance(trigger, IntervalTrigger):
        start: datetime = trigger.start_date
        step: timedelta = trigger.interval
        if now < start:
            return now
        return (start + step * ((now - start) // step)).astimezone(UTC)
    moment: datetime | None = trigger.get_next_fire_time(None, now - LOOKBACK)
    found = None
    for _ in range(100_000):  # bounded: minutes of a week at most for our cron triggers
        if moment is None or moment > now:
            break
        found = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return (found or now).astimezone(UTC)


def _is_busy(job: Job) -> bool:
    """A job object that says it is still running its last wake-up (the worker's Waker)."""
    return bool(getattr(job, "busy", False))


async def _prepare(job: Job) -> None:
    """Per-process work before a tick is contended for (reconnecting this worker's platforms)."""
    prepare: Callable[[], Awaitable[None]] | None = getattr(job, "prepare", None)
    if prepare is not None:
        await prepare()


def leased(
    job_id: str, trigger: BaseTrigger, job: Job, ticks: TickLeases | None, clock: Clock
) -> Job:
    """The coroutine function APScheduler calls for ``job_id``: without ``ticks`` it runs
    ``job``; with them, only in the worker that takes the tick (one that is busy skips it)."""

    async def run() -> None:
        if ticks is None:
            await job()
            return
        if _is_busy(job):
            return  # the previous wake-up still runs here: an idle worker takes this tick
        task = asyncio.current_task()
        if task is not None:
            ticks.running.add(task)
        try:
            await _prepare(job)
            await ticks.run(job_id, last_tick(trigger, clock()), job)
        except asyncio.CancelledError:
            # the scheduler shuts down (it cancels the jobs it started): a stop, not an error
            logger.info("%s: stopped during its tick", job_id)
        except Exception:  # the database is unreachable: the next tick tries again
            logger.exception("%s: could not take the tick", job_id)
        finally:
            if task is not None:
                ticks.running.discard(task)

    return run


def make_scheduler(
    settings: Settings,
    wake: Job,
    feeds: Job | None = None,
    *,
    ticks: TickLeases | None = None,
    clock: Clock = system_clock,
) -> AsyncIOScheduler:
    """Cron triggers at every posting slot and the weekly digest time, plus a short interval
    for retries, backoffs and expired leases. Overlapping wake-ups are harmless. ``ticks``:
    each tick runs in one of the workers sharing the database (their leases)."""
    schedule = settings.schedule
    tz = ZoneInfo(schedule.timezone)
    scheduler = AsyncIOScheduler(timezone=tz)
    defaults: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}

    def add(job_id: str, trigger: BaseTrigger, job: Job, **extra: Any) -> None:
        # APScheduler awaits coroutine *functions* only; any awaitable callable is wrapped
        run = leased(job_id, trigger, job, ticks, clock)
        scheduler.add_job(run, trigger, id=job_id, **{**defaults, **extra})

    days = ",".join(schedule.days)
    for at in schedule.slots:
        hour, minute = at.split(":")
        trigger = CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=tz)
        add(f"slot-{at}", trigger, wake)
    hour, minute = schedule.weekly_time.split(":")
    weekly = CronTrigger(day_of_week=schedule.weekly_day, hour=hour, minute=minute, timezone=tz)
    add("weekly-digest", weekly, wake)
    every = IntervalTrigger(seconds=settings.delivery.poll_seconds, start_date=EPOCH, timezone=tz)
    add("poll", every, wake)
    if feeds is not None:  # watched RSS/Atom feeds (issue 9)
        minutes = settings.feeds.poll_minutes
        poll = IntervalTrigger(minutes=minutes, start_date=EPOCH, timezone=tz)
        first = datetime.now(tz)  # at start-up too: a restart does not wait a whole interval
        add("feeds", poll, feeds, next_run_time=first)
    return scheduler
