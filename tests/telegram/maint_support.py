"""Shared pieces of the maintainer tests: settings naming one maintainer, the Application with
the maintainer services, raw updates (edited messages, channel posts, forwards, documents).

Each ``test_maint_*.py`` module overrides the ``settings`` fixture with :func:`maint_settings`
and builds its ``maint`` harness with :func:`maint_harness`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select
from telegram.ext import ApplicationBuilder

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.sandbox import TelegramState, make_telegram_app, running
from bot.sandbox.clock import FakeClock
from bot.store.models import Post
from bot.telegram import Services, install
from bot.telegram.maintainer import commands
from bot.telegram.maintainer.context import maintainer_services
from tests.builders import TELEGRAM_TOKEN
from tests.telegram.conftest import Harness

MAINTAINER = 4242
SECOND_MAINTAINER = 4243
OUTSIDER = 1001  # a subscriber, not a maintainer
CHANNEL = -1001999000111


def maint_settings(db_url: str, arxiv_url: str | None = None, **telegram: Any) -> Settings:
    overrides: dict[str, Any] = {
        "database_url": db_url,
        "telegram": {"maintainer_ids": [MAINTAINER, SECOND_MAINTAINER], **telegram},
    }
    if arxiv_url is not None:
        overrides["arxiv"] = {"api_base_url": arxiv_url, "timeout_seconds": 0.5, "retries": 0}
    return load_settings(**overrides)


class MaintHarness(Harness):
    """The subscriber harness plus raw updates a maintainer handler must refuse."""

    async def maint(self, text: str, **kwargs: Any) -> None:
        await self.send(text, user=kwargs.pop("user", MAINTAINER), **kwargs)

    def message_json(
        self, text: str, user: int, chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(self.clock().timestamp()),
            "chat": chat or {"id": user, "type": "private", "first_name": f"U{user}"},
            "from": self.user(user),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0].encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return message

    async def edited(self, text: str, user: int = MAINTAINER) -> None:
        message = self.message_json(text, user)
        message["edit_date"] = message["date"] + 5
        await self.feed({"edited_message": message})

    async def channel_post(self, text: str) -> None:
        self.state.add_chat(CHANNEL, "channel")
        message = self.message_json(text, MAINTAINER)
        del message["from"]
        message["chat"] = {"id": CHANNEL, "type": "channel", "title": "Digest"}
        message["sender_chat"] = message["chat"]
        await self.feed({"channel_post": message})

    async def forwarded(self, text: str, user: int = MAINTAINER, origin: int = MAINTAINER) -> None:
        message = self.message_json(text, user)
        message["forward_origin"] = {
            "type": "user",
            "date": message["date"] - 60,
            "sender_user": self.user(origin),
        }
        await self.feed({"message": message})

    async def upload(
        self, content: bytes, name: str, *, user: int = MAINTAINER, caption: str | None = None
    ) -> None:
        message = self.message_json("", user)
        del message["text"]
        message["document"] = self.state.add_file(content, name)
        if caption is not None:
            message["caption"] = caption
        await self.feed({"message": message})

    async def press_as(
        self, message_chat: int, data: str, *, user: int, message_id: int = 1
    ) -> None:
        """A button press with any callback data, on a message in any chat (replays)."""
        query = {
            "id": f"cq{next(self._ids)}",
            "from": self.user(user),
            "chat_instance": "other",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(self.clock().timestamp()),
                "chat": self.state.chat_object(message_chat),
                "text": "replayed",
                "from": self.state.bot_user,
            },
        }
        await self.feed({"callback_query": query})

    def answers(self) -> list[dict[str, Any]]:
        return self.state.callback_answers

    def texts(self, chat_id: int = MAINTAINER) -> list[str]:
        return [m.visible_text for m in self.replies(chat_id)]


@asynccontextmanager
async def maint_harness(
    app: Container, state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> AsyncIterator[MaintHarness]:
    """The real Application with every handler (subscriber + maintainer) against the fake;
    at the end the fake rejected nothing."""
    async with running(make_telegram_app(state)) as url:
        application = (
            ApplicationBuilder()
            .token(TELEGRAM_TOKEN)
            .base_url(f"{url}/bot")
            .base_file_url(f"{url}/file/bot")
            .build()
        )
        services = Services(
            app.archive,
            app.browse,
            app.subscribers,
            app.settings,
            clock,
            maintainer_services(app),
        )
        install(application, services, messages_per_minute=1000)
        await application.initialize()

        async def sleep(seconds: float) -> None:  # a handler waiting for Telegram's pace
            fake_clock.advance(seconds)

        waiting, commands.sleep = commands.sleep, sleep
        try:
            yield MaintHarness(application, state, fake_clock, clock)
        finally:
            commands.sleep = waiting
            await application.shutdown()
    assert state.rejected == [], state.rejected


async def posts_snapshot(app: Container) -> list[tuple[int, str, str, int, str | None]]:
    """Every post's id, state, text, rank and slot: "nothing changed" is this being equal."""
    async with app.sessions() as session:
        rows = await session.execute(
            select(Post.id, Post.state, Post.text, Post.rank, Post.slot).order_by(Post.id)
        )
        return [(r[0], r[1], r[2], r[3], r[4].isoformat() if r[4] else None) for r in rows]


async def audit_count(app: Container) -> int:
    from bot.store.models import AuditEntryRow

    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)
