"""Chaos: seeded random faults on both fakes (10 % 5xx / dropped connections, including
ACCEPT_THEN_DROP where the platform keeps the post but the answer is lost, and 5 % 429s)
while ~40 posts drip through the real adapters; ticks advance simulated time until every
delivery is final (bounded loop).

Purpose: the delivery ledger's promises under failure. Every delivery ends final (sent, or
dead with its reason); nothing is lost (each post is on the platform or dead-lettered with
``last_error``); X holds each post at most once (a resend after a lost answer is refused 403
"duplicate content", which the ledger records as sent); Telegram, which cannot deduplicate,
shows at most ``1 + duplicates`` copies of a post, where ``duplicates`` is the ledger's count
of sends whose outcome was unknown."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox import Fault, FaultInjector, FaultKind
from bot.store.models import Delivery
from tests.e2e.conftest import FINAL, Rig, comments, make_states, open_rig, tuned

POSTS = 40
MAX_TICKS = 400
X_ROUTE = "POST /2/tweets"


def chaos_faults(seed: int, method: str) -> FaultInjector:
    return FaultInjector(
        seed=seed,
        probabilities={
            FaultKind.SERVER_ERROR: 0.04,
            FaultKind.DROP: 0.03,
            FaultKind.ACCEPT_THEN_DROP: 0.03,
            FaultKind.RATE_LIMIT: 0.05,
        },
        random_methods=frozenset({method}),
        retry_after=5,
    )


def chaos_settings(settings: Settings) -> Settings:
    # caps out of the way (40 posts in an afternoon); 3 attempts so some dead letters happen
    return tuned(
        settings,
        twitter={"daily_cap": 1000, "monthly_budget_usd": 1000.0},
        delivery={"max_attempts": 3},
    )


@dataclass
class Outcome:
    rows: list[Delivery]
    x_texts: dict[int, str]
    tg_texts: dict[int, str]
    ticks: int


async def drip_under_chaos(rig: Rig) -> Outcome:
    """Make 40 posts due one a minute, then tick every 30 s until the ledger is all final."""
    ids, _ = await rig.enqueue(comments(POSTS))
    for post in ids:
        await rig.app.queue.make_due(post)
        await rig.dispatcher.tick()
        rig.clock.advance(seconds=60)
    ticks = POSTS
    while any(r.state not in FINAL for r in await rig.ledger()):
        assert ticks < MAX_TICKS, [(r.id, r.state, r.due_at) for r in await rig.ledger()]
        await rig.dispatcher.tick()
        rig.clock.advance(seconds=30)
        ticks += 1
    rows = await rig.ledger()
    outgoing = {p: await rig.outgoing(p) for p in ids}
    return Outcome(
        rows,
        {p: o.x_text for p, o in outgoing.items()},
        {p: o.telegram.text for p, o in outgoing.items()},
        ticks,
    )


async def chaos_rig_run(settings: Settings, clock: FrozenClock, seed: int) -> tuple[Rig, Outcome]:
    telegram, x = make_states(
        lambda: clock().timestamp(),
        telegram_faults=chaos_faults(seed, "sendMessage"),
        x_faults=chaos_faults(seed + 1000, X_ROUTE),
        x_post_limit=10_000,  # the fake's 17-a-day free tier would only add 429s here
    )
    async with open_rig(chaos_settings(settings), clock, telegram=telegram, x=x) as rig:
        outcome = await drip_under_chaos(rig)
        return rig, outcome


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
@pytest.mark.usefixtures("lift_ptb_limiter")
async def test_chaos_every_delivery_is_final_and_nothing_is_lost(
    settings: Settings, clock: FrozenClock, seed: int
) -> None:
    rig, out = await chaos_rig_run(settings, clock, seed)
    injected_tg = Counter(kind for _, kind in rig.telegram.faults.injected)
    injected_x = Counter(kind for _, kind in rig.x.faults.injected)
    # the chaos really happened, of every kind, on both platforms
    for injected in (injected_tg, injected_x):
        assert {FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT} <= set(injected), injected
    assert injected_x[FaultKind.ACCEPT_THEN_DROP] >= 1, injected_x
    assert injected_tg[FaultKind.DROP] + injected_tg[FaultKind.ACCEPT_THEN_DROP] >= 1

    assert len(out.rows) == 2 * POSTS
    assert all(r.state in ("sent", "dead") for r in out.rows), Counter(r.state for r in out.rows)
    assert all(r.last_error for r in out.rows if r.state == "dead")
    assert all(r.lease_until is None for r in out.rows)

    tweets = Counter(p.text for p in rig.tweets())
    assert max(tweets.values()) == 1  # X holds each post at most once
    channel = Counter(m.text for m in rig.channel())
    for row in out.rows:
        if row.destination == "x":
            on_x = tweets[out.x_texts[row.post_id]]
            # nothing lost: sent means it is there; dead means dead-lettered with a reason
            assert on_x == 1 or row.state == "dead", (row.post_id, row.state, row.last_error)
            if row.state == "sent" and row.remote_id is None:
                assert row.last_error == "already posted (duplicate content)"
        else:
            copies = channel[out.tg_texts[row.post_id]]
            assert copies >= 1 or row.state == "dead", (row.post_id, row.state, row.last_error)
    # a lost answer from X came back as 403 duplicate on the resend and was counted as sent
    duplicates = [r for r in out.rows if r.destination == "x" and r.remote_id is None]
    refused = [r for r in rig.x.rejected if r.status == 403 and "duplicate" in r.detail.lower()]
    assert len(duplicates) == len(refused) >= 1
    assert all(r.state == "sent" for r in duplicates)
    # every request the fakes refused was one of the injected faults (or X's duplicate 403)
    assert all(r.error_code in (0, 429, 502) for r in rig.telegram.rejected)
    assert all(r.status in (0, 403, 429, 503) for r in rig.x.rejected)
    posts = await rig.posts()
    assert {posts[r.post_id].state for r in out.rows} <= {"sent", "failed"}


@pytest.mark.slow
@pytest.mark.usefixtures("lift_ptb_limiter")
async def test_chaos_telegram_copies_are_accounted_in_the_ledger(
    settings: Settings, clock: FrozenClock
) -> None:
    rig, out = await chaos_rig_run(settings, clock, seed=3)
    assert FaultKind.ACCEPT_THEN_DROP in {k for _, k in rig.telegram.faults.injected}
    channel = Counter(m.text for m in rig.channel())
    over = [
        (r.post_id, channel[out.tg_texts[r.post_id]], r.duplicates)
        for r in out.rows
        if r.destination == "telegram:channel"
        and channel[out.tg_texts[r.post_id]] > 1 + r.duplicates
    ]
    assert over == []  # (post, copies in the channel, ledger duplicates)


@pytest.mark.usefixtures("lift_ptb_limiter")
async def test_a_lost_telegram_answer_follows_the_unknown_outcome_policy(
    settings: Settings, clock: FrozenClock
) -> None:
    """Deterministic reproduction: one sendMessage is accepted, then its connection drops.
    With ``telegram_unknown_outcome = "park"`` the delivery must be parked (the operator
    checks the channel), not silently resent."""
    parked = tuned(settings, delivery={"telegram_unknown_outcome": "park"})
    async with open_rig(parked, clock) as rig:
        rig.telegram.faults.push(Fault(FaultKind.ACCEPT_THEN_DROP, method="sendMessage"))
        [post], _ = await rig.enqueue(comments(1))
        await rig.app.queue.make_due(post)
        await rig.dispatcher.tick()
        assert len(rig.channel()) == 1  # the platform has it; our side saw a dropped connection
        clock.advance(hours=1)
        await rig.dispatcher.tick()
        row = next(r for r in await rig.ledger() if r.destination == "telegram:channel")
        assert (len(rig.channel()), row.state) == (1, "parked")
