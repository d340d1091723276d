"""A drip post to 2,000 subscribers through the ledger, the real PTB adapter and the strict fake
enforcing Telegram's limits on simulated time: 5% have blocked the bot, Telegram answers some
429s. Nobody is missed or doubled, no 1-second window exceeds 30 messages, nobody gets two in
one second, blocked subscribers are marked blocked, and a crash mid-broadcast loses nothing."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import Settings
from bot.publish.base import Outgoing, Sent
from bot.sandbox import FaultInjector, FaultKind, TelegramState
from bot.store.models import Delivery, Subscriber
from tests.builders import add_subscribers
from tests.e2e.conftest import (
    CHANNEL,
    comments,
    make_states,
    open_rig,
    prepare_queue,
    tick_until_sent,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("lift_ptb_limiter")]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 17:00 Tokyo; first slot 19:00
SLOT = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
FIRST_CHAT = 500_000
MAINTAINER = 777


async def subscribe_many(app: Container, n: int, clock: FrozenClock) -> list[int]:
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    await add_subscribers(app, chats, clock(), timezone="Asia/Tokyo")
    return chats


def telegram_with(epoch: FrozenClock, chats: list[int], blocked: set[int]) -> TelegramState:
    faults = FaultInjector(
        seed=7,
        probabilities={FaultKind.RATE_LIMIT: 0.004},
        random_methods=frozenset({"sendMessage"}),
        retry_after=2,
    )
    telegram, _ = make_states(lambda: epoch().timestamp(), telegram_faults=faults)
    telegram.users.update(chats)
    telegram.blocked_chats.update(blocked)
    return telegram


async def test_a_broadcast_to_2000_subscribers_keeps_every_limit(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.set(T0)
    n = 2000
    rng = random.Random(3)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    blocked = set(rng.sample(chats, n // 20))
    telegram = telegram_with(clock, chats, blocked)

    async def sleep(seconds: float) -> None:  # the overall pace waits on simulated time
        clock.advance(seconds=seconds)

    await prepare_queue(settings, FrozenClock(T0), comments(2))
    telegram.users.add(MAINTAINER)
    maintainer = {"maintainer_ids": [MAINTAINER]}
    with_maintainer = settings.model_copy(
        update={"telegram": settings.telegram.model_copy(update=maintainer)}
    )
    async with open_rig(with_maintainer, clock, telegram=telegram) as rig:
        await subscribe_many(rig.app, n, clock)
        dispatcher = rig.app.dispatcher(random.Random(1), sleep=sleep)
        clock.set(SLOT)
        for _ in range(200):
            await dispatcher.tick()
            async with rig.app.sessions() as session:
                open_rows = await session.scalar(
                    select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
                )
            if open_rows is None:
                break
            clock.advance(seconds=3)
        async with rig.app.sessions() as session:
            states = dict(
                (await session.execute(select(Subscriber.chat_id, Subscriber.state))).all()
            )
            ledger = list(await session.scalars(select(Delivery)))
        notes = rig.app.notifier.progress_notes  # type: ignore[attr-defined]

    private = [m for m in telegram.sent if m.chat_id >= FIRST_CHAT]
    assert not [r for r in telegram.rejected if r.error_code not in (403, 429)]
    per_chat = Counter(m.chat_id for m in private)
    reachable = set(chats) - blocked
    assert set(per_chat) == reachable  # nobody missed
    assert max(per_chat.values()) == 1  # nobody doubled
    assert {c for c, s in states.items() if s == "blocked"} == blocked  # marked, at once
    # the fake enforces 30/s and 1/s per chat on the simulated clock: every refusal it gave was
    # one of the injected 429s, never a limit we broke
    limit_refusals = [r for r in telegram.rejected if r.error_code == 429]
    injected = [k for _, k in telegram.faults.injected if k is FaultKind.RATE_LIMIT]
    assert len(limit_refusals) == len(injected) and injected  # some 429s did happen
    per_second = Counter(m.date for m in telegram.sent)
    assert max(per_second.values()) <= 30
    assert all(d.state in ("sent", "cancelled") for d in ledger)
    assert sum(d.duplicates for d in ledger) == 0
    assert telegram.messages(CHANNEL)  # the channel got its post too
    # the maintainer saw the progress (one message per post, edited) and its end
    [note] = [t for k, t in notes.items() if k.startswith("broadcast:")]
    assert f"{n - len(blocked):,} / {n:,} sent, {len(blocked):,} blocked" in note
    assert note.endswith("finished")
    [shown] = telegram.messages(MAINTAINER)  # one message, edited in place
    assert shown.edits and note in shown.text


class Killed(BaseException):
    """The process dies (nothing is caught, nothing is finished)."""


async def test_a_broadcast_cut_by_a_crash_resumes_where_it_stopped(
    settings: Settings, clock: FrozenClock
) -> None:
    """A dispatcher that dies mid-broadcast (its claims left behind) and a new one after the
    lease: every subscriber gets the post, copies beyond one only for the sends in flight."""
    clock.set(T0)
    n = 300
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    telegram = telegram_with(clock, chats, set())
    telegram.faults.probabilities = {}

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    await prepare_queue(settings, FrozenClock(T0), comments(1))
    async with open_rig(settings, clock, telegram=telegram) as rig:
        await subscribe_many(rig.app, n, clock)
        publisher = rig.app.publishers["telegram"]
        real_send = publisher.send

        async def send_then_die(destination: str, post: Outgoing) -> Sent:
            if len(telegram.sent) >= 100:  # like kill -9: the run stops dead, mid-broadcast,
                raise Killed  # with sends in flight whose outcome nobody records
            return await real_send(destination, post)

        publisher.send = send_then_die  # type: ignore[method-assign]
        first = rig.app.dispatcher(random.Random(1), sleep=sleep)
        clock.set(SLOT)
        with pytest.raises(Killed):
            await first.tick()
        publisher.send = real_send  # type: ignore[method-assign]  # the restarted process
        partial = len([m for m in telegram.sent if m.chat_id >= FIRST_CHAT])
        assert 0 < partial < n
        clock.advance(seconds=settings.delivery.lease_seconds + 5)
        second = rig.app.dispatcher(random.Random(2), sleep=sleep)
        for _ in range(50):
            await second.tick()
            clock.advance(seconds=3)
    per_chat = Counter(m.chat_id for m in telegram.sent if m.chat_id >= FIRST_CHAT)
    assert set(per_chat) == set(chats)
    assert sum(per_chat.values()) == n  # the send that died never reached Telegram: no copy
    assert timedelta(0) <= clock() - SLOT


async def test_broadcast_in_real_time_keeps_the_limits(settings: Settings) -> None:
    """Against a fake that answers after 50 ms and enforces Telegram's limits on the real
    clock (our pace's margin covers the time between a claim and its arrival): no limit is
    broken, nobody is missed or doubled."""

    from pydantic import SecretStr

    from bot.app import build
    from bot.sandbox import ServerThread, make_telegram_app
    from tests.builders import TELEGRAM_TOKEN
    from tests.e2e.conftest import unlimited_ptb_limiter

    n = 60
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    faults = FaultInjector(
        probabilities={FaultKind.SLOW: 1.0},
        random_methods=frozenset({"sendMessage"}),
        slow_delay=0.05,
    )
    telegram = TelegramState(chats={CHANNEL}, users=set(chats), faults=faults)
    await prepare_queue(settings, FrozenClock(T0), comments(1))
    with ServerThread(make_telegram_app(telegram)) as url:
        section = {
            "token": SecretStr(TELEGRAM_TOKEN),
            "api_base_url": url,
            "channel_id": CHANNEL,
        }
        live = settings.model_copy(
            update={"telegram": settings.telegram.model_copy(update=section)}
        )
        setup = build(live, FrozenClock(T0))
        try:
            await subscribe_many(setup, n, FrozenClock(T0))
        finally:
            await setup.aclose()
        app = build(live, telegram_rate_limiter=unlimited_ptb_limiter)  # the real clock
        try:
            await app.platforms.connect()
            await tick_until_sent(app)
        finally:
            await app.aclose()
    # the paper post and the (overdue) weekly digest: each to every subscriber, once
    copies = Counter((m.chat_id, m.text) for m in telegram.sent if m.chat_id >= FIRST_CHAT)
    assert {chat for chat, _ in copies} == set(chats) and set(copies.values()) == {1}
    assert len(copies) == 2 * n
    assert [r for r in telegram.rejected if r.error_code == 429] == []  # no limit broken
