"""``kill -9`` in the middle of a send (subprocess ``digestbot dispatch --once --now T``).

The fakes run in this process (ServerThread); one request is answered slowly so the
dispatcher is provably mid-send when SIGKILL lands. Recovery is another
``dispatch --once`` after the lease ran out.

Purpose: a crash can never lose a post, X never gets a duplicate (the resend is refused 403
"duplicate content" and recorded as sent), and Telegram gets at most one extra copy per send
that was in flight at the kill, which the ledger counts in ``duplicates``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox import Fault, FaultKind
from bot.store.models import Delivery
from tests.e2e.conftest import (
    SubprocessSandbox,
    channel_counts,
    comments,
    prepare_queue,
    read_ledger,
    read_posts,
    wait_until,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 17:00 Tokyo
SLOT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday 19:00 Tokyo: the first slot
NEXT_SLOT = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # Tuesday 09:00 Tokyo
LEASE = timedelta(seconds=120)  # delivery.lease_seconds default
SLOW_SECONDS = 2.0  # below PTB's 5 s read timeout: the kill, not a timeout, ends the send


def rows_of(rows: list[Delivery], post: int) -> dict[str, Delivery]:
    return {r.destination: r for r in rows if r.post_id == post}


def kill_when(proc: subprocess.Popen[str], received: str, sandbox: SubprocessSandbox) -> None:
    """SIGKILL ``proc`` as soon as the fake has the slow request in hand."""
    faults = sandbox.telegram.faults if received == "sendMessage" else sandbox.x.faults
    try:
        wait_until(
            lambda: (received, FaultKind.SLOW) in faults.injected or proc.poll() is not None,
            f"the {received} request to reach the fake",
        )
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_kill9_while_telegram_is_in_flight(
    subprocess_sandbox: SubprocessSandbox, settings: Settings
) -> None:
    sandbox = subprocess_sandbox
    ids, _ = asyncio.run(prepare_queue(settings, FrozenClock(T0), comments(3)))
    first = ids[0]
    sandbox.telegram.faults.push(Fault(FaultKind.SLOW, method="sendMessage", delay=SLOW_SECONDS))
    kill_when(sandbox.dispatch(SLOT), "sendMessage", sandbox)

    # the killed worker got X done and left the Telegram claim with a lease
    rows = rows_of(asyncio.run(read_ledger(settings)), first)
    assert rows["x"].state == "sent" and rows["x"].remote_id == sandbox.x.posts[0].id
    assert rows["telegram:channel"].state == "sending"
    assert rows["telegram:channel"].lease_until == SLOT + LEASE
    # the platform finishes the request it had in hand: the message exists (worst case)
    wait_until(lambda: len(sandbox.telegram.messages()) == 1, "the slow send to complete")

    sandbox.dispatch_done(SLOT + LEASE + timedelta(seconds=1))  # recovery after the lease
    rows = rows_of(asyncio.run(read_ledger(settings)), first)
    tg = rows["telegram:channel"]
    assert (tg.state, tg.duplicates, tg.attempts) == ("sent", 1, 2)
    assert rows["x"].state == "sent" and rows["x"].attempts == 1
    assert [p.text for p in sandbox.x.posts].count(sandbox.x.posts[0].text) == 1
    copies = channel_counts(sandbox.telegram)
    assert list(copies.values()) == [2]  # 1 + the one send in flight at the kill
    assert max(copies.values()) <= 1 + tg.duplicates

    sandbox.dispatch_done(NEXT_SLOT)  # the worker carries on normally
    second = rows_of(asyncio.run(read_ledger(settings)), ids[1])
    assert {r.state for r in second.values()} == {"sent"}
    assert all(r.duplicates == 0 and r.attempts == 1 for r in second.values())
    assert len(sandbox.x.posts) == len({p.text for p in sandbox.x.posts}) == 2
    assert sorted(channel_counts(sandbox.telegram).values()) == [1, 2]
    assert sandbox.x.rejected == [] and sandbox.telegram.rejected == []
    posts = asyncio.run(read_posts(settings))
    assert (posts[first].state, posts[ids[1]].state, posts[ids[2]].state) == (
        "sent",
        "sent",
        "queued",
    )


@pytest.mark.slow
@pytest.mark.parametrize("landed", [True, False], ids=["x-has-it", "x-never-got-it"])
def test_kill9_while_x_is_in_flight(
    subprocess_sandbox: SubprocessSandbox, settings: Settings, landed: bool
) -> None:
    """``landed``: X processed the post and the worker died waiting for the answer (the
    resend must be refused as a duplicate); otherwise the worker died before X processed it
    (the resend simply posts it)."""
    sandbox = subprocess_sandbox
    ids, _ = asyncio.run(prepare_queue(settings, FrozenClock(T0), comments(2)))
    first = ids[0]
    proc: subprocess.Popen[str]
    if landed:
        sandbox.x_hold.arm(SLOW_SECONDS)
        proc = sandbox.dispatch(SLOT)
        try:
            wait_until(lambda: sandbox.x_hold.holding.is_set(), "X to accept the post")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert len(sandbox.x.posts) == 1
    else:
        sandbox.x.faults.push(Fault(FaultKind.SLOW, method="POST /2/tweets", delay=SLOW_SECONDS))
        kill_when(sandbox.dispatch(SLOT), "POST /2/tweets", sandbox)

    rows = rows_of(asyncio.run(read_ledger(settings)), first)
    assert rows["x"].state == "sending" and rows["x"].lease_until == SLOT + LEASE
    assert rows["telegram:channel"].state == "pending"  # X goes first; never reached

    # before the lease runs out nobody touches the X claim; Telegram is delivered meanwhile
    sandbox.dispatch_done(SLOT + timedelta(seconds=60))
    rows = rows_of(asyncio.run(read_ledger(settings)), first)
    assert rows["x"].state == "sending" and rows["x"].attempts == 1
    assert rows["telegram:channel"].state == "sent"
    assert len(sandbox.x.posts) == (1 if landed else 0)

    sandbox.dispatch_done(SLOT + LEASE + timedelta(seconds=1))
    rows = rows_of(asyncio.run(read_ledger(settings)), first)
    x = rows["x"]
    assert (x.state, x.attempts) == ("sent", 2)
    assert len(sandbox.x.posts) == 1  # on X exactly once either way
    if landed:  # resent, refused as a duplicate, recorded as sent
        assert (x.remote_id, x.last_error) == (None, "already posted (duplicate content)")
        assert [(r.status, "duplicate" in r.detail) for r in sandbox.x.rejected] == [(403, True)]
    else:
        assert (x.remote_id, x.last_error) == (sandbox.x.posts[0].id, None)
        assert [r.status for r in sandbox.x.rejected] == []
    assert list(channel_counts(sandbox.telegram).values()) == [1]
    assert rows["telegram:channel"].duplicates == 0
    assert asyncio.run(read_posts(settings))[first].state == "sent"
