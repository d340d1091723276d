"""Replies and a broadcast in one budget across containers (issue 11), on PostgreSQL, on the
real clock, against the strict fake (which enforces Telegram's limits on arrival and answers
429): two "web" containers answer a stream of commands through ``process_update`` (as
``digestbot web`` does) while a worker broadcasts a post to a few hundred subscribers at 30
a second. Some of the users who write are subscribers, so a drip post and a reply meet in one
chat. Nothing may be refused, no second of the fake's arrivals may hold more than 30 messages
nor a chat two, and every command gets its reply.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from telegram import Update

from bot.app import Container, build
from bot.clock import FrozenClock, system_clock
from bot.config import Settings, load_settings
from bot.sandbox import ServerThread, make_telegram_app
from bot.sandbox.telegram_state import RateLimiter, TelegramState
from bot.services.ledger import subscriber_chat
from bot.services.pace import ReplyBudget, SlotBook, database_replies, reply_limits
from bot.store.migrate import upgrade
from bot.store.models import Delivery
from bot.telegram.replies import SharedPace
from tests.builders import TELEGRAM_TOKEN, add_subscribers
from tests.conftest import IN_CI, STORE
from tests.e2e.conftest import CHANNEL, comments, prepare_queue, unlimited_ptb_limiter

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    # real-clock runs on PostgreSQL: once per CI build (its PostgreSQL run), not in both runs
    pytest.mark.skipif(
        STORE != "postgresql",
        reason="runs in the PostgreSQL run only (DIGESTBOT_TEST_STORE=postgresql)",
    ),
]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # the post is overdue on the real clock
FIRST_CHAT = 900_000
SUBSCRIBERS = 300
WRITERS = 40  # users who send commands: half of them subscribers
COMMANDS_PER_WEB = 45
COMMANDS = ("/help", "/week", "/latest")
REDIS_URL = os.environ.get("DIGESTBOT_TEST_REDIS", "redis://127.0.0.1:6379/0")


class RecordingLimiter(RateLimiter):
    """The fake's limiter, also keeping every accepted message's arrival: (chat, moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[int, float]] = []

    def record(self, chat_id: int, now: float) -> None:
        self.arrivals.append((chat_id, now))
        super().record(chat_id, now)


def most_in_any_second(moments: list[float]) -> int:
    ordered = sorted(moments)
    most, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


BudgetFactory = Callable[[Container], ReplyBudget]


def database_budget(app: Container) -> ReplyBudget:
    return database_replies(app.sync_sessions, system_clock, reply_limits())


def redis_budget(prefix: str) -> BudgetFactory:
    def make(_app: Container) -> ReplyBudget:
        from bot.services.budget_redis import redis_replies

        return redis_replies(REDIS_URL, system_clock, reply_limits(), prefix)

    return make


def web_container(live: Settings, budget: BudgetFactory) -> tuple[Container, list[SharedPace]]:
    """A container as ``digestbot web`` builds it: every message its bot sends takes a stamp
    in the shared budget (the limiter is made when Telegram connects, after ``build``)."""
    made: list[SharedPace] = []
    box: list[Container] = []

    def limiter() -> SharedPace:
        made.append(SharedPace(budget(box[0]), system_clock, inner=unlimited_ptb_limiter()))
        return made[-1]

    app = build(live, telegram_rate_limiter=limiter)
    box.append(app)
    return app, made


def command(update_id: int, user: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": f"U{user}"},
            "from": {"id": user, "is_bot": False, "first_name": f"U{user}", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def answer_commands(
    app: Container, writers: list[int], rng: random.Random, ids: itertools.count[int]
) -> list[int]:
    """A stream of commands to one web container, each handled as its own task (a webhook
    server handles requests concurrently); returns the chats written from."""
    application = app.telegram
    assert application is not None
    tasks = []
    chats = []
    for _ in range(COMMANDS_PER_WEB):
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        user = rng.choice(writers)
        data = command(next(ids), user, rng.choice(COMMANDS))
        update = Update.de_json(data, application.bot)
        tasks.append(asyncio.create_task(application.process_update(update)))
        chats.append(user)
    await asyncio.gather(*tasks)
    return chats


async def broadcast_until_sent(
    worker: Container, book: SlotBook | None, seconds: float = 120.0
) -> None:
    dispatcher = worker.dispatcher(random.Random(1))
    if book is not None:  # the ledger's slots in Redis too (as `slot_book` wires it)
        dispatcher._pace.book = book
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await dispatcher.tick()
        async with worker.sessions() as session:
            left = await session.scalar(
                select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
            )
        if left is None:
            return
        await asyncio.sleep(0.05)


async def replies_and_broadcast(
    url: str, budget: BudgetFactory, book: SlotBook | None = None
) -> None:
    upgrade(url)
    subscribers = [FIRST_CHAT + i for i in range(SUBSCRIBERS)]
    outsiders = [FIRST_CHAT + 10_000 + i for i in range(WRITERS // 2)]
    writers = subscribers[: WRITERS // 2] + outsiders
    telegram = TelegramState(chats={CHANNEL}, users=set(subscribers) | set(outsiders))
    limiter = RecordingLimiter()
    telegram.limiter = limiter
    base = load_settings(database_url=url)
    await prepare_queue(base, FrozenClock(T0), comments(1))
    with ServerThread(make_telegram_app(telegram)) as api:
        section = {"token": SecretStr(TELEGRAM_TOKEN), "api_base_url": api, "channel_id": CHANNEL}
        live = base.model_copy(update={"telegram": base.telegram.model_copy(update=section)})
        setup = build(live, FrozenClock(T0))
        try:
            await add_subscribers(setup, subscribers, T0, receive="drip")
        finally:
            await setup.aclose()
        worker = build(live, telegram_rate_limiter=unlimited_ptb_limiter)
        webs = [web_container(live, budget) for _ in range(2)]
        try:
            for app in [worker, *(w for w, _ in webs)]:
                assert await app.platforms.connect() == []
            ids = itertools.count(1)
            broadcast = asyncio.create_task(broadcast_until_sent(worker, book))
            await asyncio.sleep(0.5)  # the broadcast is under way
            written = await asyncio.gather(
                *(
                    answer_commands(w, writers, random.Random(i), ids)
                    for i, (w, _) in enumerate(webs)
                )
            )
            await broadcast
        finally:
            for app in [worker, *(w for w, _ in webs)]:
                await app.aclose()

    refused = [r for r in telegram.rejected if r.error_code == 429]
    assert refused == [], [(r.method, r.params.get("chat_id")) for r in refused]
    assert [r for r in telegram.rejected] == []
    moments = [moment for _, moment in limiter.arrivals]
    assert most_in_any_second(moments) <= 30
    by_chat: dict[int, list[float]] = defaultdict(list)
    for chat, moment in limiter.arrivals:
        by_chat[chat].append(moment)
    gaps = [b - a for times in by_chat.values() for a, b in itertools.pairwise(sorted(times))]
    assert min(gaps) >= 1.0

    post_text = {m.text for m in telegram.sent if m.chat_id == subscribers[-1]}
    assert len(post_text) == 1  # the broadcast's one message
    mine = [m for m in telegram.sent if m.chat_id >= FIRST_CHAT]  # not the channel
    got_post = Counter(m.chat_id for m in mine if m.text in post_text)
    assert set(got_post) == set(subscribers) and set(got_post.values()) == {1}
    asked = Counter(chat for chats in written for chat in chats)
    answered = Counter(m.chat_id for m in mine if m.text not in post_text)
    assert answered == asked  # every command got its reply, once
    counted = sum(limiter.counted for _, made in webs for limiter in made)
    assert counted == sum(asked.values())  # each reply took its stamp
    rows = [
        r
        for r in await read_rows(base)
        if (subscriber_chat(r.destination) or 0) >= FIRST_CHAT and r.state == "sent"
    ]
    assert len(rows) == SUBSCRIBERS


async def read_rows(settings: Settings) -> list[Delivery]:
    from tests.e2e.conftest import read_ledger

    return await read_ledger(settings)


async def test_two_web_containers_reply_while_a_worker_broadcasts_in_one_budget(
    pg_url: str,
) -> None:
    await replies_and_broadcast(pg_url, database_budget)


async def test_the_same_with_the_budget_in_redis(pg_url: str) -> None:
    """Replies and the ledger's slots in Redis (``DIGESTBOT_REDIS_URL``), the claims still in
    PostgreSQL. Skipped when Redis does not answer, except on CI."""
    from redis import Redis

    from bot.services.budget_redis import redis_book

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        message = f"needs the Redis service ({REDIS_URL} or DIGESTBOT_TEST_REDIS): {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"digestbot:test:{uuid.uuid4().hex}"
    try:
        await replies_and_broadcast(pg_url, redis_budget(prefix), redis_book(REDIS_URL, prefix))
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
