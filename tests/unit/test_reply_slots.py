"""Replies in the one budget (pure planning, injected moments): a reply leaves at once while
the second has room, between slots already granted; a full second or a busy chat delays it to
the first moment that keeps every window; the ledger leaves headroom while replies come."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bot.domain.send_slots import (
    REPLY_HOT,
    Limits,
    Request,
    plan_slots,
    reply_headroom,
    reply_slot,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIMITS = Limits(per_second=30, margin=timedelta(milliseconds=100))


def most_in_any_window(stamps: list[datetime], window: timedelta) -> int:
    """The most stamps in any closed window [t, t + window]."""
    ordered = sorted(stamps)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t <= start + window))
    return best


def evenly(start: datetime, count: int, spacing: timedelta) -> list[datetime]:
    return [start + i * spacing for i in range(count)]


def test_a_reply_leaves_at_once_while_the_second_has_room() -> None:
    broadcast = evenly(T0 - timedelta(milliseconds=500), 20, timedelta(milliseconds=50))
    assert reply_slot(T0, broadcast, [], LIMITS) == T0


def test_a_reply_goes_between_slots_reserved_ahead_when_they_leave_room() -> None:
    """Slots reserved into the future do not push a reply behind all of them: 20 slots in the
    next 0.7 s leave room now."""
    ahead = evenly(T0, 20, timedelta(milliseconds=35))
    assert reply_slot(T0, ahead, [], LIMITS) == T0


def test_a_full_second_delays_the_reply_to_the_first_moment_with_room() -> None:
    """30 slots in the last second and the next: the reply waits until the oldest one leaves
    every window that would hold it, and not a moment longer."""
    full = evenly(T0 - timedelta(milliseconds=600), 30, LIMITS.spacing)
    at = reply_slot(T0, full, [], LIMITS)
    assert at > T0
    assert most_in_any_window([*full, at], LIMITS.second) <= 30
    earlier = at - timedelta(milliseconds=1)
    assert most_in_any_window([*full, earlier], LIMITS.second) > 30
    assert at - T0 < LIMITS.second  # bounded: a second at most


def test_replies_in_a_burst_fill_the_second_then_wait() -> None:
    overall: list[datetime] = []
    slots = []
    for _ in range(45):
        at = reply_slot(T0, overall, [], LIMITS)
        overall.append(at)
        slots.append(at)
    assert slots[:30] == [T0] * 30  # instant while there is room
    assert all(at > T0 for at in slots[30:])
    assert most_in_any_window(slots, LIMITS.second) <= 30


def test_a_reply_and_a_drip_post_to_one_chat_are_a_second_apart() -> None:
    """The chat had a drip post 300 ms ago: its reply waits for the rest of the chat's second;
    a reply to another chat leaves at once."""
    drip = T0 - timedelta(milliseconds=300)
    at = reply_slot(T0, [drip], [drip], LIMITS)
    assert at > drip + LIMITS.second and at - (drip + LIMITS.second) < timedelta(milliseconds=1)
    assert reply_slot(T0, [drip], [], LIMITS) == T0


def test_a_drip_post_reserved_ahead_keeps_its_chats_second() -> None:
    """A slot already granted to the chat 400 ms from now: a reply now would make two in one
    second of that chat, so it follows the drip post by a second."""
    drip = T0 + timedelta(milliseconds=400)
    at = reply_slot(T0, [drip], [drip], LIMITS)
    assert at - drip > LIMITS.second


def test_a_group_reply_keeps_twenty_a_minute() -> None:
    earlier = evenly(T0 - timedelta(seconds=57), 20, timedelta(seconds=2))
    at = reply_slot(T0, [], earlier, LIMITS, group=True)
    assert at > earlier[0] + LIMITS.minute
    assert reply_slot(T0, [], earlier, LIMITS, group=False) == T0


def test_the_ledger_keeps_headroom_while_replies_come() -> None:
    """A broadcast planned while replies came in the last seconds leaves a tenth of each
    second free: replies arriving at any moment of it leave at once, and broadcast and replies
    together keep 30 a second."""
    assert reply_headroom([], T0, LIMITS) == 0
    assert reply_headroom([T0 - REPLY_HOT - timedelta(seconds=1)], T0, LIMITS) == 0
    recent = [T0 - timedelta(seconds=2)]
    room = reply_headroom(recent, T0, LIMITS)
    assert room == 3
    paced = Limits(30 - room, LIMITS.chat_per_second, LIMITS.group_per_minute, LIMITS.margin)
    requests = [Request(f"telegram:{i}") for i in range(90)]
    slots = [g.at for g in plan_slots(T0, recent, {}, requests, paced) if g.at is not None]
    assert len(slots) == 90
    rng = random.Random(7)
    overall = [*recent, *slots]
    # about 2.5 replies a second, at any moment of the broadcast (never 4 in one window)
    arrivals = [
        T0 + timedelta(milliseconds=400 * i + rng.uniform(0, 20))
        for i in range(int((slots[-1] - T0).total_seconds() / 0.4))
    ]
    waits = []
    for moment in arrivals:
        at = reply_slot(moment, overall, [], LIMITS)
        waits.append(at - moment)
        overall.append(at)
    assert max(waits) == timedelta(0)  # every reply instant
    assert most_in_any_window(overall, LIMITS.second) <= 30


def test_without_headroom_a_reply_during_a_full_broadcast_waits_but_keeps_the_limit() -> None:
    """Nobody replied lately: the broadcast takes every slot (the last second's and half a
    second reserved ahead, as the broadcaster does), and a reply waits for the first moment
    with room: after the slots reserved ahead, never making 31 in a window."""
    requests = [Request(f"telegram:{i}") for i in range(45)]
    start = T0 - LIMITS.second
    slots = [g.at for g in plan_slots(start, [], {}, requests, LIMITS) if g.at is not None]
    assert slots[-1] - T0 >= timedelta(milliseconds=400)
    at = reply_slot(T0, slots, [], LIMITS)
    assert at > slots[-1] and at - slots[-1] <= LIMITS.spacing
    assert most_in_any_window([*slots, at], LIMITS.second) <= 30
    assert most_in_any_window([*slots, at], LIMITS.second) <= 30


def fits_everywhere(stamps: list[datetime], at: datetime, window: timedelta, limit: int) -> bool:
    """Brute force: every closed window [s, s + window] holding ``at`` has room for it."""
    ordered = sorted(stamps)
    starts = [at - window, at, *(t for t in ordered if at - window <= t <= at)]
    return all(sum(1 for t in ordered if start <= t <= start + window) < limit for start in starts)


def test_the_slot_is_the_earliest_that_fits_on_random_histories() -> None:
    """Random histories of slots (past and reserved ahead) and of one chat: the reply's slot
    fits every window, and no moment between ``now`` and it does (checked on a 5 ms grid)."""
    rng = random.Random(11)
    for _ in range(200):
        overall = [
            T0 + timedelta(milliseconds=rng.uniform(-1200, 900)) for _ in range(rng.randint(0, 45))
        ]
        chat = [T0 + timedelta(milliseconds=rng.uniform(-1200, 900))] if rng.random() < 0.3 else []
        at = reply_slot(T0, overall + chat, chat, LIMITS)
        assert fits_everywhere(overall + chat, at, LIMITS.second, 30)
        assert fits_everywhere(chat, at, LIMITS.second, 1)
        probe = T0
        while probe < at - timedelta(milliseconds=5):
            fits = fits_everywhere(overall + chat, probe, LIMITS.second, 30) and fits_everywhere(
                chat, probe, LIMITS.second, 1
            )
            assert not fits, (probe, at)
            probe += timedelta(milliseconds=5)
