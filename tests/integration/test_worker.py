"""``digestbot run`` as a real process: catches up on due posts, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import ServerThread, TelegramState, XState, make_telegram_app, make_x_app
from tests.builders import TELEGRAM_TOKEN, X_KEYS, item, store, weekly

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], deadline: float = 60.0) -> bool:
    """Poll an observable condition (not a timing assumption), bounded."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def start_run(
    db_url: str, telegram_url: str, x_url: str, channel: str, cwd: Path, **settings: str
) -> subprocess.Popen[str]:
    """``python -m bot run`` against the fakes (both credentials set), output merged;
    ``settings``: more DIGESTBOT_ variables, e.g. ``DELIVERY__POLL_SECONDS="0.2"``."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_TELEGRAM__TOKEN": TELEGRAM_TOKEN,
        "DIGESTBOT_TELEGRAM__API_BASE_URL": telegram_url,
        "DIGESTBOT_TELEGRAM__CHANNEL_ID": channel,
        "DIGESTBOT_TWITTER__API_BASE_URL": x_url,
        **{f"DIGESTBOT_TWITTER__{k.upper()}": v for k, v in X_KEYS.items()},
        **{f"DIGESTBOT_{k}": v for k, v in settings.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _prepare(db_url: str) -> None:
    # queued a week ago: every slot is in the past for the real clock
    app = build(load_settings(database_url=db_url), FrozenClock(datetime(2026, 1, 5, tzinfo=UTC)))
    try:
        items = [item(i, f"Worker comment {i}.", arxiv=f"2601.{i:05d}") for i in (1, 2, 3)]
        await store(app, weekly("2026-W02", items))
        await app.queue.enqueue_issues(["2026-W02"])
    finally:
        await app.aclose()


def test_run_publishes_due_post_and_stops_on_sigterm(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_prepare(db_url))
    tg, xs = TelegramState(chats={"@worker_test"}), XState(**X_KEYS)
    with ServerThread(make_telegram_app(tg)) as tg_url, ServerThread(make_x_app(xs)) as x_url:
        proc = start_run(db_url, tg_url, x_url, "@worker_test", tmp_path)
        try:
            wait_for(lambda: len(xs.posts) >= 2 and len(tg.sent) >= 2)
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert len(xs.posts) >= 2 and len(tg.sent) >= 2, output
    assert proc.returncode == 0, output
    assert "worker stopped" in output
    assert TELEGRAM_TOKEN not in output  # the token never reaches the log
    # missed slots do not flood: one paper post (and the overdue digest) on catch-up
    texts = sorted(p.text for p in xs.posts)
    assert texts[0].startswith("ML news 2026-W02") and "https://medium.com/" in texts[0]
    assert texts[1:] == ["Worker comment 1. arXiv:2601.00001"]
    assert len(tg.sent) == 2 and tg.rejected == []


def test_sigterm_during_the_start_up_catch_up_stops_a_long_broadcast(
    db_url: str, tmp_path: Path
) -> None:
    """A worker that starts while a broadcast is due (a restart, a deploy) sends it in its
    catch-up tick; a SIGTERM then stops it like any other tick: the sends in flight finish,
    nothing more is claimed, the claims reserved ahead go back, and the process exits at once
    (not when the broadcast is over, which a platform's grace period would cut with a kill)."""
    from bot.store import queue as repo
    from tests.builders import add_subscribers

    n = 600  # 20 s at 30 a second
    chats = list(range(900_000, 900_000 + n))

    async def subscribe() -> None:
        await _prepare(db_url)
        app = build(
            load_settings(database_url=db_url), FrozenClock(datetime(2026, 1, 5, tzinfo=UTC))
        )
        try:
            await add_subscribers(app, chats, datetime(2026, 1, 5, tzinfo=UTC), receive="drip")
        finally:
            await app.aclose()

    asyncio.run(subscribe())
    tg, xs = TelegramState(chats={"@worker_test"}, users=set(chats)), XState(**X_KEYS)
    with ServerThread(make_telegram_app(tg)) as tg_url, ServerThread(make_x_app(xs)) as x_url:
        proc = start_run(db_url, tg_url, x_url, "@worker_test", tmp_path)
        try:
            assert wait_for(lambda: len(tg.sent) >= 40), "the broadcast never started"
            proc.send_signal(signal.SIGTERM)
            at_signal = len(tg.sent)
            started = time.monotonic()
            output, _ = proc.communicate(timeout=60)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert "stopping: finishing the delivery in hand" in output and "worker stopped" in output
    after = len(tg.sent) - at_signal
    assert after <= 40, after  # the sends in flight and the slots already due, not the rest
    assert len(tg.sent) < n, "the whole broadcast went out before the worker stopped"
    assert took < 15, took  # a bound far above a clean stop, far below the broadcast's 20 s

    async def ledger() -> list[str]:
        app = build(load_settings(database_url=db_url))
        try:
            async with app.sessions() as session:
                return [d.state for d in await repo.ledger_rows(session)]
        finally:
            await app.aclose()

    states = asyncio.run(ledger())
    assert "sending" not in states  # claims reserved ahead were given back, not left leased
    assert states.count("pending") >= n - len(tg.sent)
