"""Several workers on one PostgreSQL database (issue 11): batch claims with ``FOR UPDATE SKIP
LOCKED``, Telegram's pace kept in the database across processes, and the pace lock never
stalling the others (a holder killed, or frozen).

Purpose: four processes claiming one broadcast at once must claim every delivery exactly once
and be granted slots that keep Telegram's limits between them (30 a second overall, one a
second per chat); a row another transaction holds is skipped, not waited for; a worker that
dies or freezes while holding the ``telegram-pace`` lock frees it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import ServerThread, make_telegram_app
from bot.sandbox.telegram_state import RateLimiter, TelegramState
from bot.services.ledger import is_lock, subscriber_chat
from bot.services.pace import TelegramPace
from bot.store import queue as repo
from bot.store.db import make_sync_engine
from bot.store.migrate import upgrade
from bot.store.models import Delivery, Post
from bot.store.queue import LedgerRow
from tests.builders import TELEGRAM_TOKEN, add_subscribers
from tests.e2e.conftest import (
    CHANNEL,
    comments,
    prepare_queue,
    read_ledger,
    unlimited_ptb_limiter,
)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PROC = Path(__file__).with_name("pg_worker_proc.py")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # before the first slot: the posts wait, queued
FIRST_CHAT = 700_000
WORKERS = 4


@pytest.fixture
def pg(pg_url: str) -> Iterator[tuple[str, Engine]]:
    upgrade(pg_url)
    engine = make_sync_engine(pg_url)
    try:
        yield pg_url, engine
    finally:
        engine.dispose()


def seed(engine: Engine, chats_per_post: list[int]) -> list[int]:
    """One released post per entry, each with a due delivery to the first that many chats."""
    ids: list[int] = []
    with engine.begin() as conn:
        for n, count in enumerate(chats_per_post, start=1):
            post_id = conn.execute(
                insert(Post)
                .values(
                    kind="paper",
                    text=f"Comment {n}.",
                    rank=n,
                    slot=NOW,
                    state="sending",
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(Post.id)
            ).scalar_one()
            rows = [
                {
                    "post_id": post_id,
                    "destination": f"telegram:{FIRST_CHAT + i}",
                    "state": "pending",
                    "attempts": 0,
                    "due_at": NOW,
                    "duplicates": 0,
                    "updated_at": NOW,
                }
                for i in range(count)
            ]
            if rows:
                conn.execute(insert(Delivery), rows)
        ids = list(conn.scalars(select(Delivery.id).order_by(Delivery.id)))
    return ids


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(PROC), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expect_line(proc: subprocess.Popen[str], wanted: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != wanted:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"worker said {line!r}, not {wanted!r}\n{err}")


def most_in_any_second(stamps: list[datetime]) -> int:
    """The largest number of stamps in any half-open window [t, t + 1 s)."""
    ordered = sorted(stamps)
    most, start = 0, 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= timedelta(seconds=1):
            start += 1
        most = max(most, end - start + 1)
    return most


def test_four_processes_claim_one_broadcast_each_delivery_once_within_the_limits(
    pg: tuple[str, Engine],
) -> None:
    url, engine = pg
    ids = seed(engine, [600, 200])  # the first 200 chats get two posts: their limit matters
    procs = [spawn("claim", url, "--now", NOW.isoformat()) for _ in range(WORKERS)]
    for proc in procs:
        expect_line(proc, "ready")
    for proc in procs:  # all at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    claims: list[list[tuple[int, str, str]]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        claims.append([tuple(c) for c in json.loads(out.strip().splitlines()[-1])])

    won = Counter(delivery_id for mine in claims for delivery_id, _, _ in mine)
    assert sorted(won) == ids and set(won.values()) == {1}  # every delivery, exactly once
    assert all(mine for mine in claims), [len(m) for m in claims]  # all four took part
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.state, Delivery.attempts)).all()
    assert {(state, attempts) for state, attempts in rows} == {("sending", 1)}

    slots = [datetime.fromisoformat(at) for mine in claims for _, _, at in mine]
    assert most_in_any_second(slots) <= 30
    per_chat: dict[str, list[datetime]] = defaultdict(list)
    for mine in claims:
        for _, destination, at in mine:
            per_chat[destination].append(datetime.fromisoformat(at))
    twice = [sorted(times) for times in per_chat.values() if len(times) > 1]
    assert len(twice) == 200
    assert all(b - a >= timedelta(seconds=1) for a, b in twice)


def test_a_row_lock_held_elsewhere_is_skipped_not_waited_for(
    pg: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction holds one pending delivery (a slow maintainer edit, a stuck
    writer): the batch claim skips it at once instead of waiting under the pace lock; the
    one-row claim counts it as taken. Once it is let go, the next claim takes it."""
    url, engine = pg
    ids = seed(engine, [20])
    held = ids[3]
    monkeypatch.setattr(repo, "LOCK_WAIT_MS", 1000)  # waiting on the row would fail in 1 s
    pace = TelegramPace()
    sessions = sessionmaker(engine, expire_on_commit=False)
    holder = make_sync_engine(url)
    try:
        with holder.connect() as other:
            trans = other.begin()
            other.execute(select(Delivery.id).where(Delivery.id == held).with_for_update())
            with sessions.begin() as session:
                batch = pace.reserve(session, NOW, 120.0, limit=50)
            assert sorted(row.id for row, _ in batch.claimed) == [i for i in ids if i != held]
            row = LedgerRow(held, 1, f"telegram:{FIRST_CHAT + 3}", "pending", 0, 0)
            later = NOW + timedelta(seconds=2)
            with sessions.begin() as session:
                single = pace.reserve(session, later, 120.0, rows=[row])
            assert single.claimed == [] and [r.id for r in single.lost] == [held]
            trans.rollback()
        with sessions.begin() as session:
            rest = pace.reserve(session, later, 120.0, limit=50)
        assert [row.id for row, _ in rest.claimed] == [held]
    finally:
        holder.dispose()


def pending_claimable(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(Delivery.id).where(Delivery.state == "pending")).all())


def test_a_worker_killed_while_holding_the_pace_lock_does_not_stall_the_others(
    pg: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, engine = pg
    seed(engine, [10])
    pace = TelegramPace()
    sessions = sessionmaker(engine, expire_on_commit=False)
    proc = spawn("hold", url)
    try:
        expect_line(proc, "held")
        monkeypatch.setattr(repo, "LOCK_WAIT_MS", 300)
        with pytest.raises(OperationalError) as caught, sessions.begin() as session:
            pace.reserve(session, NOW, 120.0, limit=50)  # serialised: it waits for the holder
        assert is_lock(caught.value)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    monkeypatch.setattr(repo, "LOCK_WAIT_MS", 5000)  # far more than the server needs
    with sessions.begin() as session:
        result = pace.reserve(session, NOW, 120.0, limit=50)
    assert len(result.claimed) == 10 and pending_claimable(engine) == 0


def test_a_frozen_worker_holding_the_pace_lock_is_cut_off_by_the_server(
    pg: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopped (SIGSTOP: a frozen VM, a debugger) inside its reserving transaction:
    the server ends that session after its idle limit, and the others go on."""
    url, engine = pg
    seed(engine, [10])
    pace = TelegramPace()
    sessions = sessionmaker(engine, expire_on_commit=False)
    proc = spawn("hold", url, "--idle-ms", "500")
    try:
        expect_line(proc, "held")
        os.kill(proc.pid, signal.SIGSTOP)
        monkeypatch.setattr(repo, "LOCK_WAIT_MS", 10_000)  # the holder's 0.5 s ends first
        with sessions.begin() as session:
            result = pace.reserve(session, NOW, 120.0, limit=50)
        assert len(result.claimed) == 10
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def test_the_batch_claim_on_postgresql_uses_skip_locked_and_one_returning_update(
    pg: tuple[str, Engine],
) -> None:
    """The statements themselves: the batch is picked FOR UPDATE SKIP LOCKED and claimed by
    one UPDATE ... RETURNING (no re-read), whatever the batch size."""
    from sqlalchemy import event

    _, engine = pg
    seed(engine, [40])
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session, session.begin():
            TelegramPace().reserve(session, NOW, 120.0, limit=40)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    picks = [s for s in seen if s.startswith("SELECT deliveries.id") and "LIMIT" in s]
    assert len(picks) == 1 and picks[0].endswith("FOR UPDATE SKIP LOCKED")
    updates = [s for s in seen if s.startswith("UPDATE deliveries SET state")]
    assert len(updates) == 1 and "RETURNING deliveries.id" in updates[0]
    assert "FROM unnest(" in updates[0]  # four arrays: one cached statement for any batch
    with engine.connect() as conn:
        sending = text("SELECT count(*) FROM deliveries WHERE state = 'sending'")
        assert conn.execute(sending).scalar() == 40


class RecordingLimiter(RateLimiter):
    """The fake's limiter, also keeping every accepted message's arrival: (chat, moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[int, float]] = []

    def record(self, chat_id: int, now: float) -> None:
        self.arrivals.append((chat_id, now))
        super().record(chat_id, now)


async def test_four_dispatchers_broadcast_each_message_once_within_telegrams_limits(
    pg_url: str,
) -> None:
    """Four dispatchers with their own engines and Telegram clients, on the real clock, send
    two posts to 120 subscribers at once through the strict fake (which enforces Telegram's
    limits on arrival): each subscriber gets each post once, all four take part, and the slots
    they were granted hold no more than 30 in any second and no chat twice within a second.
    Arrivals follow the slots as closely as the machine lets them: on a host loaded many times
    over its cores a send in flight can arrive a little late and meet the fake's limit; such a
    429 is waited out (not lost, not doubled), and at most two are tolerated."""
    upgrade(pg_url)
    n = 120
    chats = [FIRST_CHAT + i for i in range(n)]
    telegram = TelegramState(chats={CHANNEL}, users=set(chats))
    limiter = RecordingLimiter()
    telegram.limiter = limiter
    base = load_settings(database_url=pg_url)
    await prepare_queue(base, FrozenClock(T0), comments(1))  # a paper and the digest
    with ServerThread(make_telegram_app(telegram)) as api:
        section = {"token": SecretStr(TELEGRAM_TOKEN), "api_base_url": api, "channel_id": CHANNEL}
        live = base.model_copy(update={"telegram": base.telegram.model_copy(update=section)})
        setup = build(live, FrozenClock(T0))
        try:
            await add_subscribers(setup, chats, T0, receive="both")
        finally:
            await setup.aclose()
        apps = [build(live, telegram_rate_limiter=unlimited_ptb_limiter) for _ in range(WORKERS)]
        try:
            for app in apps:
                await app.platforms.connect()
            dispatchers = [app.dispatcher(random.Random(i)) for i, app in enumerate(apps)]
            sent = [0] * WORKERS
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                reports = await asyncio.gather(*(d.tick() for d in dispatchers))
                for i, report in enumerate(reports):
                    sent[i] += sum((subscriber_chat(d) or 0) >= FIRST_CHAT for _, d in report.sent)
                async with apps[0].sessions() as session:
                    left = await session.scalar(
                        select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
                    )
                if left is None:
                    break
                await asyncio.sleep(0.05)  # the next round of ticks (not a timing assumption)
        finally:
            for app in apps:
                await app.aclose()
    per_chat = Counter(m.chat_id for m in telegram.sent if m.chat_id >= FIRST_CHAT)
    assert set(per_chat) == set(chats) and set(per_chat.values()) == {2}
    assert sum(sent) == 2 * n and sum(k > 0 for k in sent) >= 3, sent  # they shared the work

    rows = await read_ledger(base)
    slots = [r.sent_at for r in rows if (subscriber_chat(r.destination) or 0) >= FIRST_CHAT]
    assert len(slots) == 2 * n and all(r.state == "sent" for r in rows)
    assert most_in_any_second([s for s in slots if s is not None]) <= 30
    by_chat: dict[str, list[datetime]] = defaultdict(list)
    for r in rows:
        if r.sent_at is not None and (subscriber_chat(r.destination) or 0) >= FIRST_CHAT:
            by_chat[r.destination].append(r.sent_at)
    assert min(abs(b - a) for a, b in by_chat.values()) >= timedelta(seconds=1)

    refused = [r for r in telegram.rejected if r.error_code == 429]
    arrivals = [datetime.fromtimestamp(t, UTC) for _, t in limiter.arrivals]
    assert len(refused) <= 2, (len(refused), most_in_any_second(arrivals))
    assert [r for r in telegram.rejected if r.error_code != 429] == []


def test_an_x_claim_skips_a_row_held_elsewhere_and_keeps_the_cap(
    pg: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the ``x-budget`` lock an X claim never waits on a row lock (another worker has
    that delivery); the cap still counts what was claimed."""
    from bot.config import TwitterSettings
    from bot.services.budget import XBudget

    url, engine = pg
    seed(engine, [0, 0, 0])
    with engine.begin() as conn:
        post_ids = list(conn.scalars(select(Post.id).order_by(Post.id)))
        for post_id in post_ids:
            conn.execute(
                insert(Delivery).values(
                    post_id=post_id,
                    destination="x",
                    state="pending",
                    attempts=0,
                    due_at=NOW,
                    duplicates=0,
                    updated_at=NOW,
                )
            )
        rows = [
            LedgerRow(i, p, "x", "pending", 0, 0)
            for i, p in conn.execute(select(Delivery.id, Delivery.post_id).order_by(Delivery.id))
        ]
    monkeypatch.setattr(repo, "LOCK_WAIT_MS", 1000)
    budget = XBudget(TwitterSettings(daily_cap=2), "UTC")
    sessions = sessionmaker(engine, expire_on_commit=False)
    lease = NOW + timedelta(seconds=120)
    holder = make_sync_engine(url)
    try:
        with holder.connect() as other:
            trans = other.begin()
            other.execute(select(Delivery.id).where(Delivery.id == rows[0].id).with_for_update())
            with sessions.begin() as session:
                held = budget.claim(session, rows[0], "A post.", NOW, lease)
            assert held.allowed and not held.claimed
            verdicts = []
            for row in rows[1:]:
                with sessions.begin() as session:
                    verdicts.append(budget.claim(session, row, "A post.", NOW, lease))
            assert [v.claimed for v in verdicts] == [True, True]
            trans.rollback()
        with sessions.begin() as session:
            capped = budget.claim(session, rows[0], "A post.", NOW, lease)
        assert not capped.allowed and "daily cap reached (2/2" in (capped.reason or "")
    finally:
        holder.dispose()
