"""Kept answers through the handlers: a repeated command answers the same without reading
the database, and never an answer older than the last commit of any container or process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.store.models import Subscriber
from tests.builders import item, store, weekly
from tests.telegram.conftest import USER, Harness


@pytest.fixture
async def other(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    """A second container on the same database (the command line importing, another worker)."""
    container = build(settings, clock)
    try:
        yield container
    finally:
        await container.aclose()


async def test_repeated_commands_answer_alike_and_follow_imports(
    bot: Harness, archive: Container, other: Container
) -> None:
    for command in ("/week", "/latest", "/picks", "/search sparse experts"):
        await bot.send(command)
        first = bot.last()
        await bot.send(command)
        again = bot.last()
        assert (again.text, again.reply_markup) == (first.text, first.reply_markup), command
    await store(other, weekly("2026-W10", [item(1, "Robots fold laundry", pick=True)]))
    await bot.send("/week")
    assert bot.last().visible_text.startswith("ML news 2026-W10")
    assert "Robots fold laundry" in bot.last().visible_text
    await bot.send("/latest")
    assert "2026-W10" in bot.last().visible_text
    await bot.send("/picks")
    assert "Robots fold laundry" in bot.last().visible_text
    await bot.send("/search laundry")
    assert "Robots fold laundry" in bot.last().visible_text


async def test_a_known_users_start_writes_nothing(bot: Harness, archive: Container) -> None:
    await bot.send("/start")
    chat = bot.replies()[0].chat_id
    written = await updated_at(archive, chat)
    bot.clock.advance(hours=1)
    await bot.send("/start")
    await bot.send("/start")
    assert await updated_at(archive, chat) == written  # nothing changed: nothing written
    assert len(bot.replies()) == 3


async def updated_at(app: Container, chat_id: int) -> datetime:
    async with app.sessions() as session:
        found = await session.scalar(
            select(Subscriber.updated_at).where(Subscriber.chat_id == chat_id)
        )
    assert found is not None
    return found


async def test_kept_settings_follow_the_zones_offset(bot: Harness, archive: Container) -> None:
    """/settings is kept beside the subscriber's snapshot; its one use of the time, the zone's
    UTC offset, is part of the key: a daylight saving change shows with nothing written."""
    await bot.send("/start")
    await archive.subscribers.update(USER, timezone="Europe/Berlin")
    await bot.send("/settings")
    winter = bot.last()
    await bot.send("/settings")
    assert (bot.last().text, bot.last().reply_markup) == (winter.text, winter.reply_markup)
    assert "Europe/Berlin (UTC+1)" in winter.visible_text
    bot.clock.advance(days=30)  # 2026-04-01: summer time
    await bot.send("/settings")
    summer = bot.last()
    assert "Europe/Berlin (UTC+2)" in summer.visible_text
    labels = [b["text"] for row in summer.reply_markup["inline_keyboard"] for b in row]
    assert any("UTC+2" in label for label in labels)
    other = await archive.subscribers.update(USER, receive="digest")  # a new snapshot
    assert other.receive == "digest"
    await bot.send("/settings")
    assert bot.last().visible_text != summer.visible_text
