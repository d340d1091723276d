"""Paid broadcasts (``allow_paid_broadcast``, up to 1,000 messages a second) on the real clock,
through the real PTB adapter (over aiohttp) to the strict fake enforcing the paid limit on
arrival: everyone gets the post once, nothing is refused, and the outcomes are written in
batches rather than one transaction a send."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from bot.app import build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.sandbox import ServerThread, make_telegram_app
from bot.sandbox.telegram_state import TelegramState
from bot.services.broadcast import flush_at, in_flight, late_after
from bot.store import queue as repo
from tests.builders import TELEGRAM_TOKEN, add_subscribers
from tests.e2e.conftest import (
    CHANNEL,
    comments,
    prepare_queue,
    tick_until_sent,
    unlimited_ptb_limiter,
)

pytestmark = [pytest.mark.slow]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FIRST_CHAT = 700_000
PAID = 1000


def test_paid_broadcasts_overlap_more_sends_and_write_outcomes_in_batches() -> None:
    assert in_flight(30) == 4 and in_flight(PAID) == 64
    assert flush_at(30) == 1 and flush_at(PAID) == 32


def test_a_shared_paid_send_may_be_later_before_it_reserves_again() -> None:
    """Beside another process, a send later than this gives its claims back: half the shared
    plan's margin at a paid pace (re-reserving on every stall halved two workers' rate), the
    stricter 20 ms at Telegram's free 30/s (more of the margin left for arrival jitter)."""
    from datetime import timedelta

    from bot.services.pace import MARGIN, SHARED_MARGIN

    assert late_after(30) == MARGIN / 2 == timedelta(milliseconds=20)
    assert late_after(PAID) == SHARED_MARGIN / 2 == timedelta(milliseconds=50)


async def test_a_paid_broadcast_reaches_everyone_once_within_the_paid_limit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 400
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    telegram = TelegramState(chats={CHANNEL}, users=set(chats))
    written: list[int] = []
    finish = repo.finish_sent_many

    def counting(session: Session, /, outcomes: Sequence[Any], now: datetime) -> None:
        written.append(len(outcomes))
        finish(session, outcomes, now)

    monkeypatch.setattr(repo, "finish_sent_many", counting)
    await prepare_queue(settings, FrozenClock(T0), comments(1))
    with ServerThread(make_telegram_app(telegram)) as url:
        section = {
            "token": SecretStr(TELEGRAM_TOKEN),
            "api_base_url": url,
            "channel_id": CHANNEL,
            "messages_per_second": PAID,
        }
        paid = settings.model_copy(
            update={"telegram": settings.telegram.model_copy(update=section)}
        )
        setup = build(paid, FrozenClock(T0))
        try:
            await add_subscribers(setup, chats, T0, receive="drip")
        finally:
            await setup.aclose()
        app = build(paid, telegram_rate_limiter=unlimited_ptb_limiter)  # the real clock
        try:
            await app.platforms.connect()
            await tick_until_sent(app)
        finally:
            await app.aclose()
    mine = [m for m in telegram.sent if m.chat_id >= FIRST_CHAT]
    assert Counter(m.chat_id for m in mine) == Counter(chats)  # everyone, once
    assert all(m.params.get("allow_paid_broadcast") is True for m in mine)
    assert [r for r in telegram.rejected if r.error_code == 429] == []
    assert sum(written) == n
    # one write a send would be n writes; batches of up to flush_at leave far fewer (a write
    # also goes out whenever the run waits for its next slot, so the count is not exact)
    assert len(written) <= n // 4, written
