"""``digestbot run`` receives and sends in one process: a user /starts and /subscribes through
long polling, then gets the drip in private chat beside the channel; a user who blocked the
bot is marked blocked and never sent to again."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bot.app import build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import ServerThread, TelegramState, XState, make_telegram_app, make_x_app
from bot.store.models import Subscriber
from tests.builders import TELEGRAM_TOKEN, X_KEYS
from tests.integration.test_worker import _prepare, start_run, wait_for

pytestmark = pytest.mark.slow
READER, GONE, VISITOR = 4242, 4343, 4444
_ids = itertools.count(1)


def command(user: int, text: str, lang: str = "en") -> dict[str, Any]:
    name = text.split()[0]
    return {
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "Reader"},
            "from": {"id": user, "is_bot": False, "first_name": "Reader", "language_code": lang},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(name)}],
        }
    }


async def _subscribe(db_url: str) -> None:
    """READER subscribed earlier; GONE too, and has since blocked the bot (the fake answers
    403 for that chat)."""
    from datetime import UTC, datetime

    app = build(load_settings(database_url=db_url), FrozenClock(datetime(2026, 1, 5, tzinfo=UTC)))
    try:
        await app.subscribers.subscribe(READER, "zh")
        await app.subscribers.subscribe(GONE, "en")
    finally:
        await app.aclose()


async def _state_of(db_url: str, chat_id: int) -> str | None:
    app = build(load_settings(database_url=db_url))
    try:
        async with app.sessions() as session:
            row = await session.get(Subscriber, chat_id)
            return None if row is None else row.state
    finally:
        await app.aclose()


def test_run_answers_subscribers_and_broadcasts_to_them(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_prepare(db_url))
    asyncio.run(_subscribe(db_url))
    tg = TelegramState(chats={"@flow"}, limits_enabled=False, blocked_chats={GONE}, users={READER})
    xs = XState(**X_KEYS)
    tg.push_update(command(VISITOR, "/start"))  # received by long polling, answered
    tg.push_update(command(VISITOR, "/subscribe"))
    with ServerThread(make_telegram_app(tg)) as tg_url, ServerThread(make_x_app(xs)) as x_url:
        proc = start_run(db_url, tg_url, x_url, "@flow", tmp_path, DELIVERY__POLL_SECONDS="0.3")
        try:
            # the drip post (and the overdue digest) in the subscriber's private chat
            assert wait_for(lambda: len(tg.messages(READER)) >= 2), "no private-chat posts"
            assert wait_for(lambda: len(tg.messages("@flow")) >= 2)
            # the replies to /start and /subscribe
            assert wait_for(lambda: len(tg.messages(VISITOR)) >= 2), "no replies to commands"
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert "Traceback" not in output and TELEGRAM_TOKEN not in output
    assert tg.commands, "the command menu was published with setMyCommands"
    private = [m.text for m in tg.messages(READER)]
    channel = {m.text for m in tg.messages("@flow")}
    assert any(text in channel for text in private), (private, channel)  # the drip, privately
    assert tg.messages(GONE) == []
    assert asyncio.run(_state_of(db_url, GONE)) == "blocked"  # marked at once, silently
    assert asyncio.run(_state_of(db_url, READER)) == "active"
    assert asyncio.run(_state_of(db_url, VISITOR)) == "active"  # /subscribe worked
    assert [r for r in tg.rejected if r.error_code != 403] == []
