"""The real Telegram adapter (TelegramPublisher over a real PTB Bot) against the strict fake:
every Bot API failure lands in the class the dispatcher acts on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import telegram

from bot.clock import FrozenClock
from bot.domain.telegram_text import TelegramMessage
from bot.publish.base import (
    CHANNEL,
    Migrated,
    Outgoing,
    Permanent,
    RateLimited,
    Transient,
    Unreachable,
)
from bot.publish.telegram import TelegramPublisher
from bot.sandbox import Fault, FaultKind, TelegramState, make_telegram_app, running
from bot.sandbox.clock import FakeClock
from tests.builders import TELEGRAM_TOKEN

CHANNEL_NAME = "@errors_channel"
USER = 42
GROUP = -555  # a basic group that became a supergroup
SUPERGROUP = -1009999999999


@pytest.fixture
def state() -> TelegramState:
    tg = TelegramState(clock=FakeClock(), chats={CHANNEL_NAME}, users={USER})
    tg.migrated[GROUP] = SUPERGROUP
    return tg


@pytest.fixture
async def bot(state: TelegramState) -> AsyncIterator[telegram.Bot]:
    async with running(make_telegram_app(state)) as base:
        client = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{base}/bot")
        await client.initialize()
        try:
            yield client
        finally:
            await client.shutdown()


def publisher(bot: telegram.Bot, channel: str = CHANNEL_NAME) -> TelegramPublisher:
    return TelegramPublisher(bot, channel, FrozenClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)))


def post(text: str = "<b>Paper</b> of the day") -> Outgoing:
    return Outgoing(post_id=1, x_text="Paper of the day", telegram=TelegramMessage(text))


async def test_delivered_post_returns_the_message_id(
    bot: telegram.Bot, state: TelegramState
) -> None:
    sent = await publisher(bot).send(CHANNEL, post())
    [message] = state.messages(CHANNEL_NAME)
    assert sent.remote_id == str(message.message_id)
    assert message.visible_text == "Paper of the day"


async def test_user_who_blocked_the_bot_is_unreachable(
    bot: telegram.Bot, state: TelegramState
) -> None:
    state.blocked_chats.add(USER)
    with pytest.raises(Unreachable, match="(?i)blocked by the user"):
        await publisher(bot).send(f"telegram:{USER}", post())
    assert [r.error_code for r in state.rejected] == [403]


async def test_user_who_never_started_the_bot_is_unreachable(
    bot: telegram.Bot, state: TelegramState
) -> None:
    with pytest.raises(Unreachable, match="(?i)can't initiate conversation"):
        await publisher(bot).send("telegram:777", post())
    assert [r.error_code for r in state.rejected] == [403]


async def test_unknown_channel_is_unreachable(bot: telegram.Bot, state: TelegramState) -> None:
    with pytest.raises(Unreachable, match="(?i)chat not found"):
        await publisher(bot, channel="@no_such_channel").send(CHANNEL, post())
    assert [(r.error_code, r.description) for r in state.rejected] == [
        (400, "Bad Request: chat not found")
    ]


async def test_group_migrated_to_supergroup_carries_the_new_id(
    bot: telegram.Bot, state: TelegramState
) -> None:
    with pytest.raises(Migrated) as info:
        await publisher(bot).send(f"telegram:{GROUP}", post())
    assert info.value.new_chat_id == SUPERGROUP
    assert [(r.error_code, r.description) for r in state.rejected] == [
        (400, "Bad Request: group chat was upgraded to a supergroup chat")
    ]
    state.add_chat(SUPERGROUP, kind="supergroup")
    await publisher(bot).send(f"telegram:{SUPERGROUP}", post())
    assert [m.chat_id for m in state.sent] == [SUPERGROUP]


@pytest.mark.parametrize(
    ("text", "reason"),
    [("<b>unclosed", "(?i)can't parse entities"), ("a" * 4097, "(?i)message is too long")],
)
async def test_other_bad_request_is_permanent_not_unreachable(
    bot: telegram.Bot, state: TelegramState, text: str, reason: str
) -> None:
    with pytest.raises(Permanent, match=reason):
        await publisher(bot).send(CHANNEL, post(text))
    assert [r.error_code for r in state.rejected] == [400]
    assert state.sent == []


async def test_429_is_rate_limited_with_retry_after(
    bot: telegram.Bot, state: TelegramState
) -> None:
    state.faults.push(Fault(FaultKind.RATE_LIMIT, method="sendMessage", retry_after=17))
    with pytest.raises(RateLimited) as info:
        await publisher(bot).send(CHANNEL, post())
    assert info.value.retry_after == 17
    assert [r.error_code for r in state.rejected] == [429]


async def test_server_error_is_transient(bot: telegram.Bot, state: TelegramState) -> None:
    state.faults.push(Fault(FaultKind.SERVER_ERROR, method="sendMessage"))
    with pytest.raises(Transient):
        await publisher(bot).send(CHANNEL, post())
    assert state.sent == []
