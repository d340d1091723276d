"""Send slots under Telegram's limits: spacing, windows, per-chat waits, the launch gate."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from bot.domain.send_slots import LaunchGate, Limits, Request, plan_slots

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIMITS = Limits(per_second=30)


def most_in_any_window(stamps: list[datetime], window: timedelta) -> int:
    ordered = sorted(stamps)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window))
    return best


def test_slots_are_spaced_evenly_and_never_burst() -> None:
    grants = plan_slots(T0, [], {}, [Request(f"telegram:{i}") for i in range(90)], LIMITS)
    slots = [g.at for g in grants if g.at is not None]
    assert len(slots) == 90 and slots[0] == T0
    assert {b - a for a, b in itertools.pairwise(slots)} == {LIMITS.spacing}
    # 30 in any window of Telegram's second plus the margin, at >= 95% of the limit
    assert most_in_any_window(slots, LIMITS.second) <= 30
    rate = 89 / (slots[-1] - slots[0]).total_seconds()
    assert 0.95 * 30 <= rate <= 30


def test_slots_come_after_every_slot_already_granted_elsewhere() -> None:
    """Another process reserved a burst of 30 ending in the future: ours come after it, and no
    window of the combined stamps holds more than 30."""
    theirs = [T0 + timedelta(milliseconds=300) for _ in range(30)]
    grants = plan_slots(T0, theirs, {}, [Request(f"telegram:{i}") for i in range(40)], LIMITS)
    ours = [g.at for g in grants if g.at is not None]
    assert len(ours) == 40 and min(ours) >= max(theirs) + LIMITS.second
    assert most_in_any_window(theirs + ours, LIMITS.second) <= 30


def test_a_chat_that_must_wait_is_postponed_alone() -> None:
    recent = {"telegram:7": [T0 - timedelta(milliseconds=200)]}
    requests = [Request("telegram:1"), Request("telegram:7"), Request("telegram:2")]
    first, busy, second = plan_slots(T0, [], recent, requests, LIMITS)
    assert busy.at is None and busy.chat_wait == recent["telegram:7"][0] + LIMITS.second
    # the busy chat used no slot: the others follow each other directly
    assert first.at == T0 and second.at == T0 + LIMITS.spacing


def test_one_chat_twice_in_a_batch_gets_one_slot_and_one_wait() -> None:
    a, b = plan_slots(T0, [], {}, [Request("telegram:5"), Request("telegram:5")], LIMITS)
    assert a.at == T0 and b.at is None and b.chat_wait == T0 + LIMITS.second


def test_groups_keep_twenty_a_minute() -> None:
    earlier = [T0 - timedelta(seconds=3 * i + 1) for i in range(20)]
    channel = Request("telegram:channel", group=True)
    [grant] = plan_slots(T0, [], {"telegram:channel": earlier}, [channel], LIMITS)
    assert grant.at is None and grant.chat_wait == min(earlier) + LIMITS.minute


def test_random_mixes_never_exceed_the_limits() -> None:
    rng = random.Random(5)
    overall: list[datetime] = []
    chats: dict[str, list[datetime]] = {}
    now = T0
    for _ in range(40):
        requests = [Request(f"telegram:{rng.randrange(25)}") for _ in range(rng.randrange(1, 20))]
        seen = {r.destination: chats.get(r.destination, []) for r in requests}
        for grant, request in zip(
            plan_slots(now, overall, seen, requests, LIMITS), requests, strict=True
        ):
            if grant.at is not None:
                overall.append(grant.at)
                chats.setdefault(request.destination, []).append(grant.at)
        now += timedelta(milliseconds=rng.randrange(0, 900))
    assert most_in_any_window(overall, LIMITS.second) <= 30
    for stamps in chats.values():
        assert most_in_any_window(stamps, LIMITS.second) <= 1


def test_the_gate_holds_back_a_send_after_one_that_left_late() -> None:
    gate = LaunchGate(3, timedelta(seconds=1))
    start = [T0 + timedelta(milliseconds=10 * i) for i in range(3)]
    numbers = [gate.record(t) for t in start]
    assert gate.wait_until(T0 + timedelta(milliseconds=100)) == start[0] + timedelta(seconds=1)
    # answers: the first two quick, the third 80 ms slower than the quickest
    gate.answered(numbers[0], start[0], start[0] + timedelta(milliseconds=5))
    gate.answered(numbers[1], start[1], start[1] + timedelta(milliseconds=5))
    gate.answered(numbers[2], start[2], start[2] + timedelta(milliseconds=85))
    later = start[0] + timedelta(seconds=1)
    for _ in range(3):  # sends 4, 5 (no hold) and 6 (three places after the late one)
        at = gate.wait_until(later)
        gate.record(at)
    assert gate.wait_until(later) >= start[2] + timedelta(milliseconds=80, seconds=1)
