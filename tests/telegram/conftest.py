"""The real PTB Application with our handlers, talking to the strict fake Bot API.

``bot`` (a :class:`Harness`) feeds updates through ``process_update`` and reads what the fake
recorded. Every update moves the fake's clock by 1.1 s (its 1 msg/s per chat limit) and the
services' clock by 3.1 s (under the 20 updates/min flood limit) unless ``advance=False``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from bot.app import Container
from bot.clock import FrozenClock
from bot.sandbox import SentMessage, TelegramState, make_telegram_app, running
from bot.sandbox.clock import FakeClock
from bot.store.models import Delivery, Post
from bot.telegram import Services, install
from tests.builders import TELEGRAM_TOKEN, item, store, weekly

USER = 1001
ZH_USER = 1002
BOT_NAME = "digest_sandbox_bot"
GROUP = -1001555000111
HOSTILE_HEADLINE = '<b>Sparse</b> mixture & "experts" <script>x</script> scale'
DRIPPED_TEXT = "A drip comment about speculative decoding"


def archive_issues() -> list[Any]:
    """Three weeks (2026-W07..W09); W07 has 12 "model" items for paging; W09 also in Chinese."""
    w07 = weekly(
        "2026-W07",
        [
            item(i, f"Model number {i} learns faster", arxiv=f"2602.{i:05d}", pick=i == 1)
            for i in range(1, 13)
        ],
    )
    w08 = weekly(
        "2026-W08",
        [
            item(1, "Diffusion transformers get cheaper", arxiv="2602.10001", pick=True),
            item(2, "A survey of retrieval", url="https://example.org/retrieval"),
        ],
    )
    w09_items = [
        item(1, HOSTILE_HEADLINE, arxiv="2603.00001", pick=True, title="MoE <title>"),
        item(2, "Wavelet pruning for tiny GPUs", arxiv="2009.05697", pick=True),
        item(3, "Not a pick at all", url="https://example.org/other"),
    ]
    w09 = weekly("2026-W09", w09_items)
    w09_zh = dataclasses.replace(
        weekly(
            "2026-W09",
            [
                item(1, "稀疏专家模型的扩展", arxiv="2603.00001", pick=True),
                item(2, "小波剪枝让小显卡也能跑", arxiv="2009.05697", pick=True),
            ],
        ),
        language="zh",
        title="机器学习周报 2026-W09",
    )
    return [w07, w08, w09, w09_zh]


async def add_dripped(app: Container, when: datetime) -> None:
    """A paper post sent at ``when`` (with its sent delivery)."""
    async with app.sessions.begin() as session:
        post = Post(
            kind="paper",
            text=DRIPPED_TEXT,
            title="Speculative decoding",
            url="https://arxiv.org/abs/2603.09999",
            rank=1,
            slot=when,
            state="sent",
            created_at=when,
            updated_at=when,
        )
        session.add(post)
        await session.flush()
        session.add(
            Delivery(
                post_id=post.id,
                destination="x",
                state="sent",
                due_at=when,
                sent_at=when,
                updated_at=when,
            )
        )


class Harness:
    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        state: TelegramState,
        fake_clock: FakeClock,
        clock: FrozenClock,
    ) -> None:
        self.application = application
        self.state = state
        self.fake_clock = fake_clock
        self.clock = clock
        self._ids = itertools.count(1)

    async def feed(self, data: dict[str, Any], *, advance: bool = True) -> None:
        self.fake_clock.advance(1.1)
        if advance:
            self.clock.advance(seconds=3.1)
        data = {**data, "update_id": self.state.push_update(data)}
        await self.application.process_update(Update.de_json(data, self.application.bot))

    @staticmethod
    def user(user_id: int, lang: str | None = "en") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"}
        if lang is not None:
            user["language_code"] = lang
        return user

    async def send(
        self,
        text: str,
        *,
        user: int = USER,
        lang: str | None = "en",
        chat: dict[str, Any] | None = None,
        advance: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(self.clock().timestamp()),
            "chat": chat or {"id": user, "type": "private", "first_name": f"U{user}"},
            "from": self.user(user, lang),
            **(extra or {}),
        }
        if text:
            message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            length = len(command.encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        await self.feed({"message": message}, advance=advance)

    async def press(
        self,
        message: SentMessage,
        data: str,
        *,
        user: int = USER,
        lang: str | None = "en",
        advance: bool = True,
    ) -> None:
        query = {
            "id": f"cq{next(self._ids)}",
            "from": self.user(user, lang),
            "chat_instance": "instance",
            "data": data,
            "message": {
                "message_id": message.message_id,
                "date": message.date,
                "chat": self.state.chat_object(message.chat_id),
                "text": message.visible_text,
                "from": self.state.bot_user,
                **({"reply_markup": message.reply_markup} if message.reply_markup else {}),
            },
        }
        await self.feed({"callback_query": query}, advance=advance)

    async def inline(
        self, query: str, *, offset: str = "", user: int = USER, lang: str | None = "en"
    ) -> dict[str, Any]:
        data = {"id": f"iq{next(self._ids)}", "from": self.user(user, lang), "query": query}
        await self.feed({"inline_query": {**data, "offset": offset}})
        [answer] = [a for a in self.state.inline_answers if a["inline_query_id"] == data["id"]]
        return answer

    def replies(self, chat_id: int = USER) -> list[SentMessage]:
        return self.state.messages(chat_id)

    def last(self, chat_id: int = USER) -> SentMessage:
        return self.state.messages(chat_id)[-1]

    @staticmethod
    def buttons(message: SentMessage) -> dict[str, str]:
        """Button label -> callback data."""
        markup = message.reply_markup or {}
        return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telegram_state(fake_clock: FakeClock) -> TelegramState:
    state = TelegramState(clock=fake_clock)
    state.add_chat(GROUP, "supergroup")
    return state


@pytest.fixture
async def archive(app: Container) -> Container:
    await store(app, *archive_issues())
    await add_dripped(app, datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    return app


def services_of(app: Container, clock: FrozenClock) -> Services:
    return Services(app.archive, app.browse, app.subscribers, app.settings, clock)


@asynccontextmanager
async def harness(
    app: Container,
    state: TelegramState,
    fake_clock: FakeClock,
    clock: FrozenClock,
    **limits: int,
) -> AsyncIterator[Harness]:
    """The Application with our handlers against the fake; the fake rejected nothing."""
    async with running(make_telegram_app(state)) as url:
        application = (
            ApplicationBuilder()
            .token(TELEGRAM_TOKEN)
            .base_url(f"{url}/bot")
            .base_file_url(f"{url}/file/bot")
            .build()
        )
        install(application, services_of(app, clock), **limits)
        await application.initialize()
        try:
            yield Harness(application, state, fake_clock, clock)
        finally:
            await application.shutdown()
    assert state.rejected == []


@pytest.fixture
async def bot(
    archive: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> AsyncIterator[Harness]:
    async with harness(archive, telegram_state, fake_clock, clock) as h:
        yield h


@pytest.fixture
async def empty_bot(
    app: Container, telegram_state: TelegramState, fake_clock: FakeClock, clock: FrozenClock
) -> AsyncIterator[Harness]:
    async with harness(app, telegram_state, fake_clock, clock) as h:
        yield h
