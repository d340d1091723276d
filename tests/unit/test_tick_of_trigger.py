"""The tick a firing belongs to: the trigger's latest fire time at or before the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.scheduler import EPOCH, last_tick

TOKYO = ZoneInfo("Asia/Tokyo")


def test_a_cron_tick_is_the_latest_fire_time_up_to_now() -> None:
    slot = CronTrigger(day_of_week="mon,wed", hour=19, minute=0, timezone=TOKYO)
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday 19:00 Tokyo
    assert last_tick(slot, monday) == monday
    assert last_tick(slot, monday + timedelta(minutes=50)) == monday  # a late firing
    assert last_tick(slot, monday - timedelta(seconds=1)) == monday - timedelta(days=5)  # Wed
    weekly = CronTrigger(day_of_week="sun", hour=20, minute=0, timezone=TOKYO)
    sunday = datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    assert last_tick(weekly, sunday + timedelta(hours=3)) == sunday
    assert last_tick(weekly, sunday - timedelta(seconds=1)) == sunday - timedelta(days=7)


def test_interval_ticks_fall_on_one_epoch_whenever_a_worker_started() -> None:
    a = IntervalTrigger(seconds=5, start_date=EPOCH, timezone=TOKYO)
    b = IntervalTrigger(seconds=5, start_date=EPOCH, timezone=UTC)
    now = datetime(2026, 3, 2, 10, 0, 7, 250_000, tzinfo=UTC)
    tick = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)
    assert last_tick(a, now) == last_tick(b, now) == tick
    assert last_tick(a, tick) == tick and last_tick(a, tick - timedelta(microseconds=1)) < tick
    # what APScheduler fires at is a tick too
    fired = a.get_next_fire_time(None, now)
    assert last_tick(a, fired) == fired == tick + timedelta(seconds=5)
