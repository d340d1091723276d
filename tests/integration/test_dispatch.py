"""The delivery ledger: one post per slot, error classes, unknown outcomes, caps, concurrency."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.publish.base import Permanent, RateLimited, Transient, Unreachable
from bot.publish.notify import LogNotifier
from bot.services.dispatch import Dispatcher
from bot.store import queue as repo
from bot.store.models import Delivery, Post
from tests.builders import item, store, weekly
from tests.fakes import ScriptedPublisher

DESTS = ["x", "telegram:channel"]


def tuned(settings: Settings, **sections: dict[str, Any]) -> Settings:
    update = {k: getattr(settings, k).model_copy(update=v) for k, v in sections.items()}
    return settings.model_copy(update=update)


class Rig:
    def __init__(self, app: Container, settings: Settings, clock: FrozenClock) -> None:
        self.app = app
        self.clock = clock
        self.x = ScriptedPublisher("x")
        self.tg = ScriptedPublisher("telegram")
        self.notifier = LogNotifier()
        self.dispatcher = Dispatcher(
            app.sessions,
            app.sync_sessions,
            clock,
            settings,
            {"x": self.x, "telegram": self.tg},
            DESTS,
            self.notifier,
            random.Random(1),
        )

    async def enqueue(self, n: int, key: str = "2026-W10") -> list[int]:
        items = [item(i, f"Comment number {i}.", arxiv=f"2601.{i:05d}") for i in range(1, n + 1)]
        await store(self.app, weekly(key, items))
        report = await self.app.queue.enqueue_issues([key])
        return report.papers

    async def deliveries(self) -> list[Delivery]:
        async with self.app.sessions() as session:
            return await repo.ledger_rows(session)

    async def post_state(self, post_id: int) -> str:
        async with self.app.sessions() as session:
            post = await session.get(Post, post_id)
            assert post is not None
            return post.state


@pytest.fixture
def rig(app: Container, settings: Settings, clock: FrozenClock) -> Rig:
    return Rig(app, settings, clock)


async def test_nothing_is_due_before_the_first_slot(rig: Rig) -> None:
    await rig.enqueue(3)
    report = await rig.dispatcher.tick()
    assert report.released == [] and rig.x.calls == [] and rig.tg.calls == []


async def test_a_simulated_week_posts_one_paper_per_slot_and_one_digest(rig: Rig) -> None:
    ids = await rig.enqueue(30)
    start = rig.clock.now
    seen_slots: list[datetime] = []
    # wake up every 20 minutes for 7 days (more often than the slots: extra ticks are harmless)
    for step in range(7 * 24 * 3):
        rig.clock.set(start + timedelta(minutes=20 * step))
        report = await rig.dispatcher.tick()
        assert len([p for p in report.released if p in ids]) <= 1
        if report.released:
            seen_slots.append(rig.clock.now)
    assert len(rig.x.posts()) == len(set(rig.x.posts()))
    assert len(rig.tg.posts()) == len(set(rig.tg.posts()))
    papers_sent = [p for p in rig.x.posts() if p in ids]
    assert papers_sent == ids[: len(papers_sent)]  # in queue order
    assert len(papers_sent) == 21  # 3 slots a day for 7 days (all 21 slots after 17:00 Mon)
    digests = [p for p in rig.x.posts() if p not in ids]
    assert len(digests) == 1
    assert sorted(rig.tg.posts()) == sorted(rig.x.posts())


async def test_missed_slots_do_not_flood(rig: Rig) -> None:
    ids = await rig.enqueue(5)
    rig.clock.advance(days=2)  # the worker was down for six slots
    report = await rig.dispatcher.tick()
    assert report.released == [ids[0]]
    view = await rig.app.queue.view()
    upcoming = [p for p in view.posts if p.state == "queued" and p.kind == "paper"]
    assert [p.id for p in upcoming] == ids[1:]
    assert all(p.slot is not None and p.slot > rig.clock.now for p in upcoming)


async def test_rate_limit_waits_without_counting_an_attempt(rig: Rig) -> None:
    await rig.enqueue(1)
    rig.clock.advance(hours=2)
    rig.x.script.append(RateLimited("Too Many Requests", 30))
    await rig.dispatcher.tick()
    x_row = next(d for d in await rig.deliveries() if d.destination == "x")
    assert (x_row.state, x_row.attempts) == ("pending", 0)
    assert x_row.due_at == rig.clock.now + timedelta(seconds=30)
    rig.clock.advance(seconds=10)
    await rig.dispatcher.tick()
    assert rig.x.posts() == []
    rig.clock.advance(seconds=21)
    await rig.dispatcher.tick()
    assert len(rig.x.posts()) == 1 and len(rig.tg.posts()) == 1


async def test_transient_errors_back_off_then_dead_letter_with_alert(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    rig = Rig(app, tuned(settings, delivery={"max_attempts": 3}), clock)
    [post] = await rig.enqueue(1)
    clock.advance(hours=2)
    rig.x.script.extend([Transient("HTTP 503"), Transient("HTTP 503"), Transient("HTTP 503")])
    await rig.dispatcher.tick()
    first = next(d for d in await rig.deliveries() if d.destination == "x")
    assert first.state == "pending" and first.attempts == 1
    delay = (first.due_at - clock.now).total_seconds()
    assert 15 <= delay <= 30  # base 30 s, equal jitter
    for _ in range(4):
        clock.advance(hours=1)
        await rig.dispatcher.tick()
    final = next(d for d in await rig.deliveries() if d.destination == "x")
    assert final.state == "dead" and "gave up after 3 attempts" in (final.last_error or "")
    assert any("dead" in a for a in rig.notifier.alerts)
    # the alert names the post, so the maintainer's message carries Retry/Reschedule/Edit/Skip
    dead = [a for a in rig.notifier.details if a.kind == "dead"]
    assert [a.post_id for a in dead] == [post]
    assert await rig.post_state(post) == "sent"  # Telegram got it


async def test_a_rejected_post_fails_with_the_api_message_and_alerts(rig: Rig) -> None:
    [post] = await rig.enqueue(1)
    rig.clock.advance(hours=2)
    rig.x.script.append(Permanent("HTTP 400: Your Tweet text is too long."))
    rig.tg.script.append(Unreachable("Forbidden: bot is not a member of the channel chat"))
    await rig.dispatcher.tick()
    rows = {d.destination: d for d in await rig.deliveries()}
    assert rows["x"].state == "failed" and "too long" in (rows["x"].last_error or "")
    assert rows["telegram:channel"].state == "failed"
    assert await rig.post_state(post) == "failed"
    assert len(rig.notifier.alerts) == 2


async def _crash_after_claim(rig: Rig, destination: str) -> Delivery:
    """Simulate a worker that claimed a delivery, called the API, and died."""
    async with rig.app.sessions.begin() as session:
        row = (
            await session.scalars(select(Delivery).where(Delivery.destination == destination))
        ).one()
        lease = rig.clock.now + timedelta(seconds=120)
        assert await session.run_sync(repo.claim, row, rig.clock.now, lease)
    return row


async def test_unknown_outcome_on_x_resends_and_duplicate_counts_as_sent(rig: Rig) -> None:
    [post] = await rig.enqueue(1)
    rig.clock.advance(hours=2)
    await rig.dispatcher.release_due(rig.clock.now)
    await _crash_after_claim(rig, "x")
    await rig.dispatcher.tick()  # lease still valid: nobody touches it
    assert rig.x.calls == []
    rig.clock.advance(seconds=121)
    from bot.publish.base import Sent

    async def duplicate(destination: str, outgoing: Any) -> Sent:
        rig.x.calls.append((destination, outgoing.post_id))
        return Sent(None, duplicate=True)

    rig.x.send = duplicate  # type: ignore[method-assign]
    await rig.dispatcher.tick()
    row = next(d for d in await rig.deliveries() if d.destination == "x")
    assert row.state == "sent" and "duplicate" in (row.last_error or "")
    assert rig.x.calls == [("x", post)]


@pytest.mark.parametrize(("policy", "state"), [("resend", "sent"), ("park", "parked")])
async def test_unknown_outcome_on_telegram_follows_the_policy(
    app: Container, settings: Settings, clock: FrozenClock, policy: str, state: str
) -> None:
    rig = Rig(app, tuned(settings, delivery={"telegram_unknown_outcome": policy}), clock)
    await rig.enqueue(1)
    clock.advance(hours=2)
    await rig.dispatcher.release_due(clock.now)
    await _crash_after_claim(rig, "telegram:channel")
    clock.advance(seconds=121)
    await rig.dispatcher.tick()
    row = next(d for d in await rig.deliveries() if d.destination == "telegram:channel")
    assert row.state == state
    if policy == "resend":
        assert row.duplicates == 1 and len(rig.tg.published) == 1
    else:
        assert rig.tg.published == [] and any("parked" in a for a in rig.notifier.alerts)
        assert [a.post_id for a in rig.notifier.details if a.kind == "parked"] == [row.post_id]


async def test_daily_cap_holds_x_posts_until_tomorrow_and_alerts_once(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    rig = Rig(app, tuned(settings, twitter={"daily_cap": 1}), clock)
    await rig.enqueue(3)
    # 2026-03-02 17:00 Tokyo; slots 19:00 (Mon), then Tue 09:00, 13:00
    for hours in (2, 16, 20):
        clock.set(datetime(2026, 3, 2, 8, tzinfo=UTC) + timedelta(hours=hours, minutes=1))
        await rig.dispatcher.tick()
    assert len(rig.tg.posts()) == 3
    assert len(rig.x.posts()) == 2  # Monday's one, then Tuesday's first
    waiting = [d for d in await rig.deliveries() if d.destination == "x" and d.state == "pending"]
    assert len(waiting) == 1
    # nothing is postponed in the database (a raised cap applies at the next tick) ...
    clock.set(datetime(2026, 3, 3, 14, 59, tzinfo=UTC))  # Tue 23:59 Tokyo: still capped
    report = await rig.dispatcher.tick()
    assert len(rig.x.posts()) == 2 and any("daily cap" in w for w in report.waiting)
    assert sum("daily cap" in a for a in rig.notifier.alerts) == 1
    clock.set(datetime(2026, 3, 3, 15, 0, 30, tzinfo=UTC))  # Wed 00:00 Tokyo: a new day
    await rig.dispatcher.tick()
    assert len(rig.x.posts()) == 3


async def test_monthly_budget_holds_posts_and_alerts(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    budget = {"monthly_budget_usd": 0.02, "cost_per_post_usd": 0.015, "link": "none"}
    rig = Rig(app, tuned(settings, twitter=budget), clock)
    await rig.enqueue(2)
    for hours in (2, 16):
        clock.set(datetime(2026, 3, 2, 8, tzinfo=UTC) + timedelta(hours=hours, minutes=1))
        await rig.dispatcher.tick()
    assert len(rig.x.posts()) == 1
    assert any("monthly budget" in a for a in rig.notifier.alerts)
    [held] = [a for a in rig.notifier.details if "monthly budget" in a.text]
    assert held.kind == "budget" and held.post_id is not None and held.actionable


async def test_paused_queue_releases_nothing(rig: Rig) -> None:
    await rig.enqueue(2)
    await rig.app.queue.set_paused(True)
    rig.clock.advance(hours=2)
    assert (await rig.dispatcher.tick()).released == []
    await rig.app.queue.set_paused(False)  # resuming moves the missed posts to coming slots
    assert (await rig.dispatcher.tick()).released == []
    upcoming = (await rig.app.queue.view()).posts[0]
    assert upcoming.slot is not None and upcoming.slot > rig.clock.now
    rig.clock.set(upcoming.slot)
    assert (await rig.dispatcher.tick()).released == [upcoming.id]


async def test_no_destination_means_posts_stay_queued(app: Container, clock: FrozenClock) -> None:
    dispatcher = Dispatcher(
        app.sessions, app.sync_sessions, clock, app.settings, {}, [], LogNotifier()
    )
    rig = Rig(app, app.settings, clock)
    [post] = await rig.enqueue(1)
    clock.advance(hours=2)
    assert (await dispatcher.tick()).released == []
    assert await rig.post_state(post) == "queued"


async def test_two_dispatchers_at_once_never_double_post(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    rig = Rig(app, settings, clock)
    await rig.enqueue(12)
    other_app = build(settings, clock)  # a second engine: another process, in effect
    try:
        other = Dispatcher(
            other_app.sessions,
            other_app.sync_sessions,
            clock,
            settings,
            {"x": rig.x, "telegram": rig.tg},
            DESTS,
            LogNotifier(),
            random.Random(2),
        )
        for _ in range(40):
            clock.advance(hours=3)
            await asyncio.gather(rig.dispatcher.tick(), other.tick(), rig.dispatcher.tick())
    finally:
        await other_app.aclose()
    assert len(rig.x.posts()) == len(set(rig.x.posts())) >= 12
    assert len(rig.tg.posts()) == len(set(rig.tg.posts())) >= 12


async def test_queue_now_resends_a_parked_delivery(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    rig = Rig(app, tuned(settings, delivery={"telegram_unknown_outcome": "park"}), clock)
    [post] = await rig.enqueue(1)
    clock.advance(hours=2)
    await rig.dispatcher.release_due(clock.now)
    await _crash_after_claim(rig, "telegram:channel")
    clock.advance(seconds=121)
    await rig.dispatcher.tick()
    assert await rig.post_state(post) == "sending"  # parked: waiting for the maintainer
    await rig.app.queue.make_due(post)  # the maintainer checked the channel: resend
    await rig.dispatcher.tick()
    assert len(rig.tg.published) == 1 and await rig.post_state(post) == "sent"
    from bot.services.queue import QueueError

    with pytest.raises(QueueError, match="already sent"):
        await rig.app.queue.make_due(post)


async def test_leases_start_when_each_delivery_is_claimed_not_when_the_tick_began(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    rig = Rig(app, settings, clock)
    await rig.enqueue(1)
    clock.advance(hours=2)
    tick_start = clock.now

    async def slow_send(destination: str, outgoing: Any) -> Any:
        clock.advance(seconds=300)  # this send took five minutes (e.g. waiting on limits)
        return await ScriptedPublisher.send(rig.x, destination, outgoing)

    rig.x.send = slow_send  # type: ignore[method-assign]
    await rig.dispatcher.tick(tick_start)
    rows = {d.destination: d for d in await rig.deliveries()}
    # X was claimed at the tick's start, Telegram five minutes later: its lease and sent time
    # follow the real moment, so another worker could never see a fresh claim as expired
    assert rows["x"].sent_at == tick_start
    assert rows["telegram:channel"].sent_at == tick_start + timedelta(seconds=300)


async def test_catching_up_reslots_the_rest_on_the_maintainers_slots(
    app: Container, rig: Rig, clock: FrozenClock
) -> None:
    """Several overdue papers: one goes, the rest move to the next slots of the /slots
    override stored in the database, not to the config's 09:00/13:00/19:00."""
    await rig.enqueue(4)
    await app.queue.set_slots(["07:30"])
    clock.set(datetime(2026, 3, 5, 0, 0, tzinfo=UTC))  # Thu 09:00 Tokyo: three slots missed
    report = await rig.dispatcher.tick()
    assert len(report.released) == 1
    tokyo = ZoneInfo("Asia/Tokyo")
    waiting = [p.slot for p in (await app.queue.view()).posts if p.kind == "paper" and p.slot]
    assert len(waiting) == 3
    assert {(s.astimezone(tokyo).hour, s.astimezone(tokyo).minute) for s in waiting} == {(7, 30)}


async def test_an_x_post_whose_worker_died_at_the_cap_is_resent_in_its_own_place(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    """Cap 1: a worker claimed today's X post (reserving it) and died. Its lease runs out; the
    next worker re-claims it in its own reservation's place (the cap is not reached by the
    post itself) and the resend's "duplicate" marks it sent. Nothing else may go out."""
    from bot.publish.base import Sent
    from bot.services.budget import XBudget

    tight = tuned(settings, twitter={"daily_cap": 1})
    rig = Rig(app, tight, clock)
    await rig.enqueue(2)
    clock.advance(hours=2)
    await rig.dispatcher.release_due(clock.now)
    budget = XBudget(tight.twitter, tight.schedule.timezone)
    async with rig.app.sessions() as session:
        row = (await session.scalars(select(Delivery).where(Delivery.destination == "x"))).one()
    lease = clock.now + timedelta(seconds=120)
    with rig.app.sync_sessions.begin() as sync:
        assert budget.claim(sync, row, "Comment number 1.", clock.now, lease).claimed
    clock.advance(seconds=121)

    async def duplicate(destination: str, outgoing: Any) -> Sent:
        rig.x.calls.append((destination, outgoing.post_id))
        return Sent(None, duplicate=True)

    rig.x.send = duplicate  # type: ignore[method-assign]
    report = await rig.dispatcher.tick()
    x_rows = [d for d in await rig.deliveries() if d.destination == "x"]
    assert [d.state for d in x_rows] == ["sent"], report.waiting
    assert rig.x.calls == [("x", row.post_id)]
    clock.advance(hours=14)  # Tuesday 09:02 in Tokyo: a new day for the cap, the next slot
    await rig.dispatcher.tick()
    assert len(rig.x.calls) == 2
