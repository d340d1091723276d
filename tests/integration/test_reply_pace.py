"""Replies and the ledger in one budget, on the store (both): reply stamps are written under
the ``telegram-pace`` lock and counted by the broadcaster's planning (overall, per chat, with
headroom while replies come); replies asking at once share a transaction; old stamps are
pruned; on SQLite a stamp does not empty the read cache. And the PTB limiter that makes every
message take its stamp (not the ledger's own sends, not answers to button presses)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.domain.send_slots import Limits
from bot.services.pace import (
    DatabaseReplies,
    TelegramPace,
    database_replies,
    reply_limits,
    stamp_replies,
)
from bot.store import stamps
from bot.store.data_version import SqliteDataVersion
from bot.store.db import make_sync_engine
from bot.store.models import Delivery, Post
from bot.telegram.replies import LEDGER, SharedPace
from tests.conftest import IN_CI

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FIRST_CHAT = 800_000
LEASE = 120.0


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_sync_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def seed(engine: Engine, count: int) -> None:
    """One released post with a due delivery to ``count`` private chats."""
    if not count:
        return
    with engine.begin() as conn:
        post_id = conn.execute(
            insert(Post)
            .values(
                kind="paper",
                text="A comment.",
                rank=1,
                slot=T0,
                state="sending",
                created_at=T0,
                updated_at=T0,
            )
            .returning(Post.id)
        ).scalar_one()
        conn.execute(
            insert(Delivery),
            [
                {
                    "post_id": post_id,
                    "destination": f"telegram:{FIRST_CHAT + i}",
                    "state": "pending",
                    "attempts": 0,
                    "due_at": T0,
                    "duplicates": 0,
                    "updated_at": T0,
                }
                for i in range(count)
            ],
        )


def most_in_any_window(moments: list[datetime], window: timedelta) -> int:
    """The most moments in any window [t, t + window) (the planner's, and Telegram's)."""
    ordered = sorted(moments)
    return max(
        (sum(1 for t in ordered[i:] if t < start + window) for i, start in enumerate(ordered)),
        default=0,
    )


def replies_at(engine: Engine, now: datetime, chats: list[int]) -> list[datetime]:
    with Session(engine) as session, session.begin():
        return stamp_replies(session, now, [(c, False) for c in chats], reply_limits())


def reserve(engine: Engine, now: datetime, limit: int) -> Any:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return TelegramPace().reserve(session, now, LEASE, limit=limit)


def test_a_reply_holds_its_chats_second_against_the_broadcast(engine: Engine) -> None:
    """A reply to a subscriber now: the broadcast's delivery to that chat waits a second (and
    only it); the others are claimed, in the shared windows (a reply is another sender)."""
    seed(engine, 5)
    [at] = replies_at(engine, T0, [FIRST_CHAT + 2])
    assert at == T0  # the budget had room: at once
    result = reserve(engine, T0, 10)
    assert result.shared
    [(row, due)] = result.waiting
    assert row.destination == f"telegram:{FIRST_CHAT + 2}"
    assert due >= T0 + reply_limits().second
    assert len(result.claimed) == 4


LATER = timedelta(hours=1)


def test_stamps_from_a_clock_far_ahead_do_not_hold_the_broadcast(engine: Engine) -> None:
    """A process whose clock runs months ahead (another machine, a simulated clock) stamps its
    replies there: the broadcast is not held until then. Its stamps are not counted; those
    within the few seconds a reply may be ahead still are."""
    seed(engine, 30)
    far = T0 + timedelta(days=270)
    replies_at(engine, far, [FIRST_CHAT + i for i in range(30)])  # every chat, a full second
    result = reserve(engine, T0, 30)
    slots = [at for _, at in result.claimed]
    assert len(slots) == 30 and not result.waiting
    assert max(slots) < T0 + timedelta(seconds=5)
    soon = T0 + timedelta(seconds=10)
    near = replies_at(engine, soon, [FIRST_CHAT + 1000 + i for i in range(30)])
    with Session(engine) as session:
        counted = stamps.since(session, T0, T0 + timedelta(seconds=stamps.AHEAD_SECONDS))
    assert counted == sorted(near)


def test_replies_count_in_the_broadcasts_overall_second(engine: Engine) -> None:
    """30 replies at once fill the second: the broadcast's slots come after them, and replies
    and slots together never hold more than 30 in a window."""
    seed(engine, 30)
    answered = replies_at(engine, T0, [FIRST_CHAT + 1000 + i for i in range(30)])
    assert answered == [T0] * 30
    result = reserve(engine, T0, 30)
    slots = [at for _, at in result.claimed]
    assert len(slots) == 30 and min(slots) > T0
    assert most_in_any_window(answered + slots, reply_limits().second) <= 30


def test_a_reply_takes_room_between_slots_reserved_ahead(engine: Engine) -> None:
    """The broadcaster reserved half a second ahead; a reply to another chat still leaves
    at once when the windows have room, and the next reservation plans around it."""
    seed(engine, 40)
    first = reserve(engine, T0, 10)
    assert max(at for _, at in first.claimed) > T0
    [at] = replies_at(engine, T0 + timedelta(milliseconds=10), [FIRST_CHAT + 5000])
    assert at == T0 + timedelta(milliseconds=10)
    later = reserve(engine, T0 + timedelta(milliseconds=20), 30)
    moments = [a for _, a in first.claimed] + [at] + [a for _, a in later.claimed]
    assert most_in_any_window(moments, reply_limits().second) <= 30


def test_the_broadcast_keeps_headroom_while_replies_come(engine: Engine) -> None:
    seed(engine, 60)
    alone = reserve(engine, T0, 30)  # no reply yet: the full pace
    full = [at for _, at in alone.claimed]
    assert most_in_any_window(full, TelegramPace().limits.second) == 30
    replies_at(engine, T0 + timedelta(seconds=3), [FIRST_CHAT + 9000])
    paced = reserve(engine, T0 + timedelta(seconds=5), 30)
    slots = [at for _, at in paced.claimed]
    assert len(slots) == 30
    assert most_in_any_window(slots, reply_limits().second) <= 27  # three a second left free


def test_replies_asking_at_once_share_one_transaction(engine: Engine) -> None:
    seed(engine, 0)
    calls = 0
    sessions = sessionmaker(engine, expire_on_commit=False)

    def write(work: Callable[[Session], list[datetime]]) -> list[datetime]:
        nonlocal calls
        calls += 1
        with sessions.begin() as session:
            return work(session)

    async def ask() -> tuple[list[datetime], int]:
        budget = DatabaseReplies(write, FrozenClock(T0), reply_limits())
        granted = await asyncio.gather(*(budget.take(FIRST_CHAT + i % 25) for i in range(50)))
        await budget.aclose()
        return granted, budget.transactions

    granted, transactions = asyncio.run(ask())
    assert transactions == calls and calls <= 3  # 50 replies, not 50 transactions
    assert granted[:25] == [T0] * 25
    assert all(at >= T0 + reply_limits().second for at in granted[25:])  # their chats' second
    with Session(engine) as session:
        assert len(stamps.since(session, T0 - timedelta(seconds=1), T0 + LATER)) == 50


def test_old_stamps_are_pruned_as_new_ones_are_written(engine: Engine) -> None:
    seed(engine, 0)
    old = T0 - timedelta(seconds=stamps.KEEP_SECONDS + 5)
    replies_at(engine, old, [1, 2, 3])
    with Session(engine) as session, session.begin():
        stamp_replies(
            session,
            T0,
            [(4, False)],
            reply_limits(),
            prune_before=T0 - timedelta(seconds=stamps.KEEP_SECONDS),
        )
    with Session(engine) as session:
        assert stamps.since(session, old - timedelta(seconds=1), T0 + LATER) == [T0]


def test_a_database_that_cannot_be_written_lets_the_reply_go() -> None:
    from sqlalchemy.exc import OperationalError

    def locked(_work: Callable[[Session], list[datetime]]) -> list[datetime]:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    async def ask() -> datetime:
        budget = DatabaseReplies(locked, FrozenClock(T0), reply_limits())
        return await budget.take(7)

    assert asyncio.run(ask()) == T0


@pytest.mark.sqlite_only("the read cache's change signal is SQLite's PRAGMA data_version")
def test_on_sqlite_a_reply_stamp_does_not_empty_the_read_cache(db_url: str, tmp_path: Path) -> None:
    engine = make_sync_engine(db_url)
    version = SqliteDataVersion(Path(engine.url.database or ""))
    try:
        before = version.token()

        async def ask(budget: DatabaseReplies) -> None:
            await budget.take(42)
            await budget.aclose()

        quiet = database_replies(sessionmaker(engine), FrozenClock(T0), reply_limits(), version)
        asyncio.run(ask(quiet))
        assert version.token() == before  # written on the signal's own connection
        loud = database_replies(sessionmaker(engine), FrozenClock(T0), reply_limits())
        asyncio.run(ask(loud))
        assert version.token() != before  # any other connection's commit is a change
        with Session(engine) as session:
            assert len(stamps.since(session, T0 - timedelta(seconds=1), T0 + LATER)) == 2
    finally:
        version.close()
        engine.dispose()


# --- the PTB limiter ----------------------------------------------------------------------


class FakeBudget:
    def __init__(self, at: datetime) -> None:
        self.at = at
        self.asked: list[tuple[int | None, bool]] = []

    async def take(self, chat_id: int | None, *, group: bool = False) -> datetime:
        self.asked.append((chat_id, group))
        return self.at

    async def aclose(self) -> None:
        return None


def test_every_message_takes_a_stamp_and_waits_for_its_moment() -> None:
    clock = FrozenClock(T0)
    budget = FakeBudget(T0 + timedelta(milliseconds=300))
    slept: list[float] = []
    done: list[str] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def call(endpoint: str, data: dict[str, Any]) -> bool:
        done.append(endpoint)
        return True

    async def go() -> None:
        limiter = SharedPace(budget, clock, sleep=sleep)
        requests: list[tuple[str, dict[str, Any], Any]] = [
            ("sendMessage", {"chat_id": 5, "text": "hi"}, None),
            ("editMessageText", {"chat_id": -100, "message_id": 1}, None),
            ("editMessageText", {"inline_message_id": "x"}, None),
            ("sendMessage", {"chat_id": "@channel"}, None),
            ("answerCallbackQuery", {"callback_query_id": "1"}, None),
            ("answerInlineQuery", {"inline_query_id": "1"}, None),
            ("sendChatAction", {"chat_id": 5}, None),
            ("sendMessage", {"chat_id": 6, "text": "a drip post"}, LEDGER),
        ]
        for endpoint, data, marker in requests:
            await limiter.process_request(call, (endpoint, data), {}, endpoint, data, marker)
        assert limiter.counted == 4

    asyncio.run(go())
    assert budget.asked == [(5, False), (-100, True), (None, False), (None, True)]
    assert slept == [pytest.approx(0.3)] * 4
    assert len(done) == 8  # every request went out


def test_limits_of_replies_are_the_shared_windows() -> None:
    limits = reply_limits(30)
    assert isinstance(limits, Limits) and limits.second > TelegramPace().limits.second


# --- the same budget in Redis -------------------------------------------------------------

REDIS_URL = os.environ.get("DIGESTBOT_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A budget of its own in the Redis service (its keys deleted afterwards). Skipped when
    Redis does not answer; on CI that is a failure instead."""
    from redis import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        message = f"needs the Redis service ({REDIS_URL} or DIGESTBOT_TEST_REDIS): {exc}"
        client.close()
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"digestbot:test:{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def redis_pace(prefix: str) -> TelegramPace:
    from bot.services.budget_redis import redis_book

    return TelegramPace(book=redis_book(REDIS_URL, prefix))


async def redis_takes(prefix: str, clock: FrozenClock, chats: list[int | None]) -> list[datetime]:
    from bot.services.budget_redis import redis_replies

    budget = redis_replies(REDIS_URL, clock, reply_limits(), prefix)
    try:
        return [await budget.take(chat) for chat in chats]
    finally:
        await budget.aclose()


def test_redis_replies_fill_the_second_then_wait(redis_prefix: str) -> None:
    chats: list[int | None] = [100 + i for i in range(31)]
    granted = asyncio.run(redis_takes(redis_prefix, FrozenClock(T0), chats))
    assert granted[:30] == [T0] * 30 and granted[30] > T0
    assert most_in_any_window(granted, reply_limits().second) <= 30
    again = asyncio.run(redis_takes(redis_prefix, FrozenClock(T0), [100]))  # its chat's second
    assert again[0] >= T0 + reply_limits().second


def test_redis_budgets_of_two_processes_at_once_keep_the_limits(redis_prefix: str) -> None:
    """Two clients (two processes' budgets) ask at the same moment: every grant is planned
    on what the other wrote (a concurrent write makes a grant plan again)."""
    from bot.services.budget_redis import redis_replies

    async def both() -> tuple[list[datetime], int]:
        budgets = [
            redis_replies(REDIS_URL, FrozenClock(T0), reply_limits(), redis_prefix)
            for _ in range(2)
        ]
        try:
            granted = await asyncio.gather(*(b.take(1000 + i) for i in range(40) for b in budgets))
            return list(granted), sum(b.tries for b in budgets)
        finally:
            for b in budgets:
                await b.aclose()

    granted, tries = asyncio.run(both())
    assert len(granted) == 80 and tries >= 2  # a batch each (more: one planned again)
    assert most_in_any_window(granted, reply_limits().second) <= 30
    per_chat: dict[int, list[datetime]] = {}
    for i, at in enumerate(granted):
        per_chat.setdefault(i // 2, []).append(at)
    assert all(abs(a - b) >= reply_limits().second for a, b in per_chat.values())


def test_redis_reply_holds_its_chat_against_the_ledger_and_sees_its_slots(
    engine: Engine, redis_prefix: str
) -> None:
    seed(engine, 20)
    [at] = asyncio.run(redis_takes(redis_prefix, FrozenClock(T0), [FIRST_CHAT + 2]))
    assert at == T0
    with Session(engine, expire_on_commit=False) as session, session.begin():
        result = redis_pace(redis_prefix).reserve(session, T0, LEASE, limit=20)
    [(row, due)] = result.waiting
    assert row.destination == f"telegram:{FIRST_CHAT + 2}" and due >= T0 + reply_limits().second
    assert result.shared and len(result.claimed) == 19
    slots = [a for _, a in result.claimed]
    # the ledger's slots are in Redis: a reply to one of those chats follows its slot
    chat = int(result.claimed[5][0].destination.split(":")[1])
    [after] = asyncio.run(redis_takes(redis_prefix, FrozenClock(T0), [chat]))
    assert after >= result.claimed[5][1] + reply_limits().second
    assert most_in_any_window([at, *slots, after], reply_limits().second) <= 30


def test_redis_stamps_from_a_clock_far_ahead_do_not_hold_the_broadcast(
    engine: Engine, redis_prefix: str
) -> None:
    """The Redis book counts what the database book counts: replies stamped months ahead
    (another machine's clock) are not counted; replies a few seconds ahead are."""
    seed(engine, 60)
    far = T0 + timedelta(days=270)
    asyncio.run(redis_takes(redis_prefix, FrozenClock(far), [FIRST_CHAT + i for i in range(30)]))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        result = redis_pace(redis_prefix).reserve(session, T0, LEASE, limit=30)
    slots = [at for _, at in result.claimed]
    assert len(slots) == 30 and not result.waiting
    assert max(slots) < T0 + timedelta(seconds=5)
    # 30 replies two seconds ahead fill that second: the rest of the broadcast avoids it
    soon = T0 + timedelta(seconds=2)
    near = asyncio.run(redis_takes(redis_prefix, FrozenClock(soon), [None] * 30))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        later = redis_pace(redis_prefix).reserve(session, T0, LEASE, limit=30)
    more = [at for _, at in later.claimed]
    assert len(more) == 30
    assert most_in_any_window([*near, *slots, *more], reply_limits().second) <= 30


def test_redis_broadcast_keeps_headroom_while_replies_come(
    engine: Engine, redis_prefix: str
) -> None:
    seed(engine, 60)
    asyncio.run(redis_takes(redis_prefix, FrozenClock(T0 + timedelta(seconds=3)), [None]))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        paced = redis_pace(redis_prefix).reserve(
            session, T0 + timedelta(seconds=5), LEASE, limit=30
        )
    slots = [a for _, a in paced.claimed]
    assert len(slots) == 30
    assert most_in_any_window(slots, reply_limits().second) <= 27


def test_a_reply_late_for_its_stamp_takes_a_new_one() -> None:
    """The event loop was busy: the stamp's moment passed 200 ms ago when the message is
    about to leave; the others planned around that moment, so it asks again (twice at most,
    then goes)."""
    clock = FrozenClock(T0 + timedelta(milliseconds=200))
    budget = FakeBudget(T0)

    async def call() -> bool:
        return True

    async def go() -> SharedPace:
        limiter = SharedPace(budget, clock)
        await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 9}, None)
        return limiter

    limiter = asyncio.run(go())
    assert limiter.counted == 1 and limiter.retaken == 2 and len(budget.asked) == 3
    budget.at = clock()  # on time: one stamp
    assert asyncio.run(go()).retaken == 0


def test_a_reply_follows_its_chats_drip_slot_reserved_ahead(engine: Engine) -> None:
    """The broadcaster granted a subscriber a slot 200 ms ahead: a reply to that chat now
    follows it by the chat's second (a reply to another chat leaves at once)."""
    seed(engine, 10)
    batch = reserve(engine, T0, 10)
    row, slot = batch.claimed[6]
    chat = int(row.destination.split(":")[1])
    mine, other = replies_at(engine, T0, [chat, FIRST_CHAT + 777])
    assert mine >= slot + reply_limits().chat_second and other == T0
