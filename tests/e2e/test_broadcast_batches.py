"""The broadcaster: batches claimed in one transaction and sent concurrently under one limiter.

Against the strict fake Bot API: a subscriber's group that became a supergroup is followed and
resent to, a message-level 400 disables nobody, sends overlap when Telegram answers slowly and
still no window breaks a limit, and ``kill -9`` of ``digestbot dispatch`` in the middle of a
broadcast (batches reserved ahead, sends in flight) loses nobody and copies only what was in
flight."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.publish.base import Outgoing, Sent
from bot.sandbox import Fault, FaultInjector, FaultKind, ServerThread, make_telegram_app
from bot.sandbox.telegram_state import TelegramState
from bot.services.broadcast import batch_size, in_flight
from bot.store.models import Delivery, Subscriber
from tests.builders import SQLITE_SIDE, TELEGRAM_TOKEN, add_subscribers
from tests.e2e.conftest import (
    CHANNEL,
    SubprocessSandbox,
    comments,
    make_states,
    open_rig,
    prepare_queue,
    read_ledger,
    tick_until_sent,
    unlimited_ptb_limiter,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("lift_ptb_limiter")]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SLOT = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
FIRST_CHAT = 600_000


def telegram_on(clock: FrozenClock) -> TelegramState:
    telegram, _ = make_states(lambda: clock().timestamp())
    return telegram


async def simulated_ticks(
    tick: Callable[[], Awaitable[object]], clock: FrozenClock, app: Container, rounds: int = 40
) -> None:
    for _ in range(rounds):
        await tick()
        async with app.sessions() as session:
            left = await session.scalar(
                select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
            )
        if left is None:
            return
        clock.advance(seconds=3)


async def test_a_subscriber_group_that_became_a_supergroup_is_followed(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.set(T0)
    old, new = -4001, -1004001
    telegram = telegram_on(clock)
    telegram.add_chat(old, "group")
    telegram.migrated[old] = new
    chats = [FIRST_CHAT, FIRST_CHAT + 1]
    telegram.users.update(chats)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    await prepare_queue(settings, FrozenClock(T0), comments(1))
    async with open_rig(settings, clock, telegram=telegram) as rig:
        await add_subscribers(rig.app, [old, *chats], clock())
        dispatcher = rig.app.dispatcher(random.Random(1), sleep=sleep)
        clock.set(SLOT)
        await simulated_ticks(dispatcher.tick, clock, rig.app)
        async with rig.app.sessions() as session:
            subscribers = dict(
                (await session.execute(select(Subscriber.chat_id, Subscriber.state))).all()
            )
            ledger = list(await session.scalars(select(Delivery)))
    # the subscriber now lives at the supergroup's id, still active; the post went there once
    assert subscribers.get(new) == "active" and old not in subscribers
    assert [m.chat_id for m in telegram.sent].count(new) == 1
    assert [r for r in telegram.rejected if str(r.params.get("chat_id")) == str(old)]
    moved = [d for d in ledger if d.destination == f"telegram:{new}"]
    assert [d.state for d in moved] == ["sent"]
    assert not [d for d in ledger if d.destination == f"telegram:{old}"]
    assert all(d.state == "sent" for d in ledger)


async def test_a_message_level_400_disables_nobody(settings: Settings, clock: FrozenClock) -> None:
    clock.set(T0)
    telegram = telegram_on(clock)
    chats = [FIRST_CHAT + i for i in range(3)]
    telegram.users.update(chats)
    # the channel's send, then the first subscriber's, are refused as bad requests (the
    # message, not the chat)
    refused = Fault(FaultKind.SERVER_ERROR, method="sendMessage", status=400)
    telegram.faults.push(refused, refused)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    await prepare_queue(settings, FrozenClock(T0), comments(1))
    async with open_rig(settings, clock, telegram=telegram) as rig:
        await add_subscribers(rig.app, chats, clock())
        dispatcher = rig.app.dispatcher(random.Random(1), sleep=sleep)
        clock.set(SLOT)
        await simulated_ticks(dispatcher.tick, clock, rig.app)
        async with rig.app.sessions() as session:
            states = set((await session.scalars(select(Subscriber.state))).all())
            ledger = {d.destination: d for d in await session.scalars(select(Delivery))}
    assert states == {"active"}  # nobody blocked for a refused message
    failed = [d for d in ledger.values() if d.state == "failed"]
    assert len(failed) == 2 and all("rejected" in (d.last_error or "") for d in failed)


async def test_a_channel_backlog_leaves_at_the_channels_limit_in_one_tick(
    settings: Settings, clock: FrozenClock
) -> None:
    """Telegram was paused while three drip posts were released: when the pause ends, one tick
    of the worker sends the channel's backlog at its limit (a message a second, 20 a minute),
    not one post per tick (every 5 s)."""
    from bot.services import pauses

    clock.set(T0)
    telegram = telegram_on(clock)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    await prepare_queue(settings, FrozenClock(T0), comments(3))
    async with open_rig(settings, clock, telegram=telegram) as rig:
        dispatcher = rig.app.dispatcher(random.Random(1), sleep=sleep, drain_groups=True)
        async with rig.app.sessions.begin() as session:
            until = T0 + timedelta(days=1)
            await pauses.set_pause(session, "telegram", until, "test: Telegram down", T0)
        for slot in (SLOT, datetime(2026, 3, 3, 0, 0, 30, tzinfo=UTC)):
            clock.set(slot)
            await dispatcher.tick()
        clock.set(datetime(2026, 3, 3, 4, 0, 30, tzinfo=UTC))
        await dispatcher.tick()  # the third post is released while Telegram is still paused
        assert telegram.messages(CHANNEL) == []
        clock.set(T0 + timedelta(days=1, seconds=1))
        report = await dispatcher.tick()
    posts = telegram.messages(CHANNEL)
    assert len(posts) == 3 and len([s for s in report.sent if s[1] == "telegram:channel"]) == 3
    gaps = {b.date - a.date for a, b in itertools.pairwise(posts)}
    assert gaps <= {1, 2}  # seconds apart on the fake's clock (whole seconds)
    assert [r for r in telegram.rejected if r.error_code == 429] == []


async def test_a_stop_mid_broadcast_gives_back_the_claims_not_sent(
    settings: Settings, clock: FrozenClock
) -> None:
    """A graceful stop (``run`` shutting down) in the middle of a batch: the sends in flight
    finish and are recorded, the slots reserved ahead go back to pending at once (no lease to
    wait out, no unknown outcome), and the next run sends them, each once."""
    clock.set(T0)
    telegram = telegram_on(clock)
    chats = [FIRST_CHAT + i for i in range(60)]
    telegram.users.update(chats)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    await prepare_queue(settings, FrozenClock(T0), comments(1))
    async with open_rig(settings, clock, telegram=telegram) as rig:
        await add_subscribers(rig.app, chats, clock(), receive="drip")
        dispatcher = rig.app.dispatcher(random.Random(1), sleep=sleep)
        publisher = rig.app.publishers["telegram"]
        real_send = publisher.send

        async def send_then_stop(destination: str, post: Outgoing) -> Sent:
            sent = await real_send(destination, post)
            if len(telegram.sent) == 20:
                dispatcher.stop()
            return sent

        publisher.send = send_then_stop  # type: ignore[method-assign]
        clock.set(SLOT)
        await dispatcher.tick()
        async with rig.app.sessions() as session:
            rows = [
                d
                for d in await session.scalars(select(Delivery))
                if d.destination.startswith("telegram:6")
            ]
        assert {d.state for d in rows} == {"sent", "pending"}  # none left claimed
        assert all(d.sent_at is None and d.attempts == 0 for d in rows if d.state == "pending")
        publisher.send = real_send  # type: ignore[method-assign]
        after = rig.app.dispatcher(random.Random(2), sleep=sleep)
        await simulated_ticks(after.tick, clock, rig.app)
    per_chat = Counter(m.chat_id for m in telegram.sent if m.chat_id >= FIRST_CHAT)
    assert set(per_chat) == set(chats) and set(per_chat.values()) == {1}


async def test_sends_overlap_when_telegram_answers_slowly_and_keep_every_limit(
    settings: Settings,
) -> None:
    """The real clock, a fake answering after 80 ms (slower than the 35 ms between slots): the
    sends are in flight together, and the fake (enforcing the limits on arrival) refuses
    nothing; every subscriber gets each post once."""
    n = 45
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    faults = FaultInjector(
        probabilities={FaultKind.SLOW: 1.0},
        random_methods=frozenset({"sendMessage"}),
        slow_delay=0.08,
    )
    telegram = TelegramState(chats={CHANNEL}, users=set(chats), faults=faults)
    await prepare_queue(settings, FrozenClock(T0), comments(1))
    with ServerThread(make_telegram_app(telegram)) as url:
        section = {"token": SecretStr(TELEGRAM_TOKEN), "api_base_url": url, "channel_id": CHANNEL}
        live = settings.model_copy(
            update={"telegram": settings.telegram.model_copy(update=section)}
        )
        setup = build(live, FrozenClock(T0))
        try:
            await add_subscribers(setup, chats, T0)
        finally:
            await setup.aclose()
        app = build(live, telegram_rate_limiter=unlimited_ptb_limiter)  # the real clock
        try:
            await app.platforms.connect()
            publisher = app.publishers["telegram"]
            real_send = publisher.send
            busy = 0
            most = 0

            async def counting(destination: str, post: Outgoing) -> Sent:
                nonlocal busy, most
                busy += 1
                most = max(most, busy)
                try:
                    return await real_send(destination, post)
                finally:
                    busy -= 1

            publisher.send = counting  # type: ignore[method-assign]
            await tick_until_sent(app)
        finally:
            await app.aclose()
    copies = Counter((m.chat_id, m.text) for m in telegram.sent if m.chat_id >= FIRST_CHAT)
    assert len(copies) == 2 * n and set(copies.values()) == {1}  # paper and digest, once each
    assert [r for r in telegram.rejected if r.error_code == 429] == []
    assert 2 <= most <= in_flight(30)


def test_kill9_mid_broadcast_loses_nobody(
    subprocess_sandbox: SubprocessSandbox, settings: Settings
) -> None:
    """``digestbot dispatch --once`` is killed while it broadcasts (batches reserved ahead,
    sends in flight); the next run after the lease sends the rest. Every subscriber has the
    post; copies beyond one are at most the sends in flight and the answers not yet written."""
    sandbox = subprocess_sandbox
    sandbox.epoch.live = True  # the fake's limits on the real clock, like the subprocess's
    n = 120
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    sandbox.telegram.users.update(chats)
    asyncio.run(prepare_queue(settings, FrozenClock(T0), comments(1)))

    async def subscribe() -> None:
        app = build(settings, FrozenClock(T0))
        try:
            await add_subscribers(app, chats, T0, receive="drip")
        finally:
            await app.aclose()

    asyncio.run(subscribe())
    proc = sandbox.dispatch(None)  # the real clock: the queued post is overdue, released now
    try:
        wait_until(
            lambda: len(sandbox.telegram.sent) >= 40 or proc.poll() is not None,
            "the broadcast to be under way",
            timeout=60,
        )
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = Counter(m.chat_id for m in sandbox.telegram.sent if m.chat_id >= FIRST_CHAT)
    assert 0 < sum(before.values()) < n
    rows = asyncio.run(read_ledger(settings))
    claimed = [r for r in rows if r.destination != CHANNEL and r.state == "sending"]
    assert claimed  # claims left behind (reserved ahead or in flight)

    # recovery: a run after the leases ran out (the run's clock moved forward by --now)
    lease = timedelta(seconds=settings.delivery.lease_seconds)
    later = datetime.now(UTC) + lease + timedelta(seconds=5)
    for step in range(6):
        sandbox.dispatch_done(later + timedelta(seconds=3 * step), timeout=120)
        rows = asyncio.run(read_ledger(settings))
        if not [r for r in rows if r.state in ("pending", "sending")]:
            break
    per_chat = Counter(m.chat_id for m in sandbox.telegram.sent if m.chat_id >= FIRST_CHAT)
    assert set(per_chat) == set(chats)  # nobody lost
    extra = sum(per_chat.values()) - n
    assert extra <= 2 * in_flight(30)  # only what was in flight (or answered, not yet written)
    assert len(claimed) <= 2 * batch_size(30) + 2 * in_flight(30)
    assert all(r.state == "sent" for r in rows if r.destination != CHANNEL)


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=SQLITE_SIDE), "postgresql"])
async def test_two_broadcasters_at_once(backend: str, request: pytest.FixtureRequest) -> None:
    """``run`` beside ``dispatch --once`` on SQLite (one writer at a time) and PostgreSQL (row
    locks), on the real clock: two dispatchers with their own engines and Telegram clients claim
    batches of the same broadcast at once; each subscriber gets the post once and the fake,
    enforcing the limits on arrival, refuses nothing."""
    from bot.config import load_settings
    from bot.store.migrate import upgrade

    url = request.getfixturevalue("db_url" if backend == "sqlite" else "pg_url")
    upgrade(url)
    n = 90
    chats = [FIRST_CHAT + i for i in range(n)]
    telegram = TelegramState(chats={CHANNEL}, users=set(chats))
    base = load_settings(database_url=url)
    await prepare_queue(base, FrozenClock(T0), comments(1))
    with ServerThread(make_telegram_app(telegram)) as api:
        section = {"token": SecretStr(TELEGRAM_TOKEN), "api_base_url": api, "channel_id": CHANNEL}
        live = base.model_copy(update={"telegram": base.telegram.model_copy(update=section)})
        setup = build(live, FrozenClock(T0))
        try:
            await add_subscribers(setup, chats, T0, receive="drip")
        finally:
            await setup.aclose()
        apps = [build(live, telegram_rate_limiter=unlimited_ptb_limiter) for _ in range(2)]
        try:
            for app in apps:
                await app.platforms.connect()
            dispatchers = [app.dispatcher(random.Random(i)) for i, app in enumerate(apps)]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                await asyncio.gather(*(d.tick() for d in dispatchers))
                async with apps[0].sessions() as session:
                    left = await session.scalar(
                        select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
                    )
                if left is None:
                    break
                await asyncio.sleep(0.05)
        finally:
            for app in apps:
                await app.aclose()
    per_chat = Counter(m.chat_id for m in telegram.sent if m.chat_id >= FIRST_CHAT)
    assert set(per_chat) == set(chats) and set(per_chat.values()) == {1}
    assert [r for r in telegram.rejected if r.error_code == 429] == []
