"""The worker's feed job: registered at ``feeds.poll_minutes``, one poll at a time, a failing
poll logged and survived."""

from __future__ import annotations

import asyncio
import inspect
import logging
from datetime import timedelta

import pytest

from bot.config import load_settings
from bot.scheduler import make_scheduler
from bot.worker import FeedPoller


async def _wake() -> None:
    return None


async def test_feeds_job_runs_every_poll_minutes() -> None:
    calls: list[int] = []

    async def poll() -> None:
        calls.append(1)

    settings = load_settings(feeds={"poll_minutes": 30})
    scheduler = make_scheduler(settings, _wake, feeds=poll)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert "feeds" in jobs and inspect.iscoroutinefunction(jobs["feeds"].func)
    interval = jobs["feeds"].trigger.interval
    assert interval == timedelta(minutes=30)
    await jobs["feeds"].func()
    assert calls == [1]
    assert "feeds" not in {j.id for j in make_scheduler(settings, _wake).get_jobs()}


class _Feeds:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def poll(self) -> list[object]:
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database locked")
        return []


async def test_feed_poller_runs_one_poll_at_a_time_and_survives_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feeds = _Feeds()
    poller = FeedPoller(feeds)  # type: ignore[arg-type]
    first = asyncio.create_task(poller())
    await asyncio.sleep(0)
    await poller()  # overlapping wake-up: folded into the running poll
    assert feeds.calls == 1
    feeds.gate.set()
    await first
    feeds.fail = True
    with caplog.at_level(logging.ERROR):
        await poller()  # logged, not raised
    assert feeds.calls == 2 and "feed poll failed" in caplog.text
