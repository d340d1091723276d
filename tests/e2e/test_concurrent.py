"""Several dispatchers on one database at once: never a double post.

Purpose: the ledger's compare-and-set claims (and the queue lock around releasing) must let
exactly one worker send each delivery, whether the workers are two ``digestbot dispatch
--once`` processes fired by overlapping crons, a ``digestbot run`` worker racing a manual
``dispatch --once``, or two dispatchers on two engines in one process. The X fake would
refuse a second identical post on its own (403 duplicate), which would hide a double send,
so "never attempted twice" is asserted as: no 403 at X and one copy per post in the channel.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app import build, connect_publishers
from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox import FaultInjector, FaultKind
from tests.builders import fetch
from tests.e2e.conftest import (
    FINAL,
    SubprocessSandbox,
    channel_counts,
    comments,
    make_states,
    open_rig,
    prepare_queue,
    read_ledger,
    read_posts,
    tuned,
    wait_until,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 17:00 Tokyo
SLOTS = [  # Mon 19:00, Tue 09:00, 13:00, 19:00 Tokyo
    datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 3, 4, 0, tzinfo=UTC),
    datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
]


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    report: dict[str, Any] = json.loads(out)
    return report


def delivery_states(db_url: str, post: int) -> list[str]:
    """Read the ledger with a connection of its own while other processes write it."""
    rows = fetch(db_url, f"SELECT state FROM deliveries WHERE post_id = {int(post)}")
    return [str(state) for (state,) in rows]


def assert_each_post_once(sandbox: SubprocessSandbox, posts: int) -> None:
    texts = [p.text for p in sandbox.x.posts]
    assert len(texts) == len(set(texts)) == posts
    assert sandbox.x.rejected == []  # not even a refused second attempt
    assert sorted(channel_counts(sandbox.telegram).values()) == [1] * posts
    # our per-chat pacing is per process: two processes may meet Telegram's 1 msg/s per chat,
    # which answers 429 and the ledger waits it out (not an attempt). Nothing else may fail.
    assert all(r.error_code == 429 for r in sandbox.telegram.rejected)


@pytest.mark.slow
def test_two_dispatch_processes_at_once_never_double_post(
    subprocess_sandbox: SubprocessSandbox, settings: Settings
) -> None:
    sandbox = subprocess_sandbox
    ids, _ = asyncio.run(prepare_queue(settings, FrozenClock(T0), comments(6)))
    for n, slot in enumerate(SLOTS, 1):
        pair = [sandbox.dispatch(slot), sandbox.dispatch(slot)]
        reports = [finish(proc) for proc in pair]
        released = [r["released"] for r in reports]
        assert sorted(released, key=len) == [[], [ids[n - 1]]]  # exactly one released it
        sent = [(s["post"], s["destination"]) for r in reports for s in r["sent"]]
        assert sorted(sent) == [(ids[n - 1], "telegram:channel"), (ids[n - 1], "x")]
        assert all(r["failed"] == [] and r["retrying"] == [] for r in reports), reports
        assert_each_post_once(sandbox, n)
    rows = asyncio.run(read_ledger(settings))
    assert len(rows) == 2 * len(SLOTS)
    assert all((r.state, r.attempts, r.duplicates) == ("sent", 1, 0) for r in rows)
    posts = asyncio.run(read_posts(settings))
    assert [posts[p].state for p in ids] == ["sent"] * 4 + ["queued"] * 2


@pytest.mark.slow
def test_a_running_worker_and_a_dispatch_once_never_double_post(
    subprocess_sandbox: SubprocessSandbox, settings: Settings
) -> None:
    """``digestbot run`` (real clock, polling every 0.3 s) while ``dispatch --once`` is fired
    at the same moment, twice; then SIGTERM stops the worker cleanly."""
    sandbox = subprocess_sandbox
    sandbox.epoch.live = True
    real = FrozenClock(datetime.now(UTC))
    ids, _ = asyncio.run(prepare_queue(settings, real, comments(3)))

    async def make_due(post: int) -> None:
        app = build(settings, FrozenClock(datetime.now(UTC)))
        try:
            await app.queue.make_due(post)
        finally:
            await app.aclose()

    asyncio.run(make_due(ids[0]))
    worker = sandbox.start("run", DIGESTBOT_DELIVERY__POLL_SECONDS="0.3")
    try:
        once = sandbox.dispatch(None)
        finish(once)
        wait_until(lambda: set(delivery_states(sandbox.db_url, ids[0])) == {"sent"}, "post 1")
        asyncio.run(make_due(ids[1]))
        once = sandbox.dispatch(None)  # races the worker's next poll
        finish(once)
        wait_until(lambda: set(delivery_states(sandbox.db_url, ids[1])) == {"sent"}, "post 2")
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        worker.kill()
        worker.communicate()
    assert worker.returncode == 0, err
    assert "worker stopped" in err
    assert_each_post_once(sandbox, 2)
    rows = asyncio.run(read_ledger(settings))
    assert len(rows) == 4
    assert all((r.state, r.attempts, r.duplicates) == ("sent", 1, 0) for r in rows)
    assert delivery_states(sandbox.db_url, ids[2]) == []  # not due: nobody released it


@pytest.mark.slow
@pytest.mark.usefixtures("lift_ptb_limiter")
async def test_two_dispatchers_on_two_engines_with_the_real_adapters(
    settings: Settings, clock: FrozenClock
) -> None:
    """Three ticks at once (two dispatchers of one container, one of another container with
    its own tweepy and PTB clients); the fakes answer some requests a little late so the
    ticks interleave mid-send."""
    shuffle = {FaultKind.SLOW: 0.3}
    telegram, x = make_states(
        lambda: clock().timestamp(),
        telegram_faults=FaultInjector(
            seed=5,
            probabilities=shuffle,
            random_methods=frozenset({"sendMessage"}),
            slow_delay=0.02,
        ),
        x_faults=FaultInjector(seed=6, probabilities=shuffle, slow_delay=0.02),
    )
    relaxed = tuned(settings, twitter={"daily_cap": 100})
    async with open_rig(relaxed, clock, telegram=telegram, x=x) as rig:
        ids, digest = await rig.enqueue(comments(12))
        other = build(rig.app.settings, clock)
        try:
            await connect_publishers(other)
            second = other.dispatcher()
            first = rig.dispatcher
            for _ in range(50):  # 6 days and a bit: past Sunday 20:00 Tokyo
                clock.advance(hours=3)
                await asyncio.gather(first.tick(), second.tick(), first.tick())
            for _ in range(20):  # let pacing pauses run out
                if all(r.state in FINAL for r in await rig.ledger()):
                    break
                clock.advance(seconds=30)
                await asyncio.gather(first.tick(), second.tick())
        finally:
            await other.aclose()
        rows = await rig.ledger()
        assert {r.post_id for r in rows} == {*ids, digest}  # every post released
        assert all(r.state == "sent" and r.duplicates == 0 for r in rows)
        texts = Counter(t.text for t in rig.tweets())
        assert len(texts) == 13 and max(texts.values()) == 1
        assert rig.x.rejected == []  # never attempted twice (X would refuse the copy)
        assert sorted(Counter(m.text for m in rig.channel()).values()) == [1] * 13
        assert {r.error_code for r in rig.telegram.rejected} <= {429}  # pacing only
        assert sum(k is FaultKind.SLOW for _, k in rig.x.faults.injected) >= 3
