from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime

from bot.config import load_settings
from bot.scheduler import make_scheduler


async def test_jobs_are_awaited_coroutines_at_slot_times_in_the_author_zone() -> None:
    calls: list[int] = []

    class Wake:  # an awaitable callable, like the worker's Waker
        async def __call__(self) -> None:
            calls.append(1)

    scheduler = make_scheduler(load_settings(), Wake())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"slot-09:00", "slot-13:00", "slot-19:00", "weekly-digest", "poll"}
    assert all(inspect.iscoroutinefunction(job.func) for job in jobs.values())
    await jobs["poll"].func()
    assert calls == [1]
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 17:00 in Tokyo, a Monday
    fire = jobs["slot-19:00"].trigger.get_next_fire_time(None, now)
    assert fire.astimezone(UTC) == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    weekly = jobs["weekly-digest"].trigger.get_next_fire_time(None, now)
    assert weekly.astimezone(UTC) == datetime(2026, 3, 8, 11, 0, tzinfo=UTC)  # Sunday 20:00
    await asyncio.sleep(0)
