"""APScheduler wiring. Jobs only wake the dispatcher; the database decides what is due."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings

Job = Callable[[], Awaitable[None]]


def make_scheduler(settings: Settings, wake: Job, feeds: Job | None = None) -> AsyncIOScheduler:
    """Cron triggers at every posting slot and the weekly digest time, plus a short interval
    for retries, backoffs and expired leases. Overlapping wake-ups are harmless."""
    schedule = settings.schedule
    tz = ZoneInfo(schedule.timezone)
    scheduler = AsyncIOScheduler(timezone=tz)

    async def wake_job() -> None:
        # APScheduler awaits coroutine *functions* only; any awaitable callable is wrapped
        await wake()

    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    days = ",".join(schedule.days)
    for at in schedule.slots:
        hour, minute = at.split(":")
        trigger = CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=tz)
        scheduler.add_job(wake_job, trigger, id=f"slot-{at}", **defaults)
    hour, minute = schedule.weekly_time.split(":")
    weekly = CronTrigger(day_of_week=schedule.weekly_day, hour=hour, minute=minute, timezone=tz)
    scheduler.add_job(wake_job, weekly, id="weekly-digest", **defaults)
    poll = IntervalTrigger(seconds=settings.delivery.poll_seconds, timezone=tz)
    scheduler.add_job(wake_job, poll, id="poll", **defaults)
    if feeds is not None:  # watched RSS/Atom feeds (issue 9)

        async def feeds_job() -> None:
            await feeds()

        every = IntervalTrigger(minutes=settings.feeds.poll_minutes, timezone=tz)
        first = datetime.now(tz)  # at start-up too: a restart does not wait a whole interval
        scheduler.add_job(feeds_job, every, id="feeds", next_run_time=first, **defaults)
    return scheduler
