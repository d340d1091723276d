"""The real Telegram adapter (TelegramPublisher over a real PTB Bot) against the strict fake:
every Bot API failure lands in the class the dispatcher acts on."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import telegram

from bot.clock import FrozenClock
from bot.config import TelegramSettings
from bot.domain.telegram_text import Button, TelegramMessage
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
from bot.publish.telegram_http import AiohttpRequest
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


@pytest.fixture(params=["aiohttp", "httpx"])
def request_kind(request: pytest.FixtureRequest) -> Callable[[], AiohttpRequest | None]:
    """The request the application uses (aiohttp) and PTB's default (httpx, None): the same
    errors map the same way."""
    if request.param == "aiohttp":
        return AiohttpRequest
    return lambda: None


@pytest.fixture
async def bot(
    state: TelegramState, request_kind: Callable[[], AiohttpRequest | None]
) -> AsyncIterator[telegram.Bot]:
    async with running(make_telegram_app(state)) as base:
        client = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{base}/bot", request=request_kind())
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


async def test_server_error_is_transient_and_was_not_sent(
    bot: telegram.Bot, state: TelegramState
) -> None:
    """An answer, even 502, means Telegram did not act on the request: resend freely."""
    state.faults.push(Fault(FaultKind.SERVER_ERROR, method="sendMessage"))
    with pytest.raises(Transient) as info:
        await publisher(bot).send(CHANNEL, post())
    assert not info.value.maybe_sent


@pytest.mark.parametrize("kind", [FaultKind.DROP, FaultKind.ACCEPT_THEN_DROP])
async def test_a_connection_dropped_after_the_request_may_have_delivered(
    bot: telegram.Bot, state: TelegramState, kind: FaultKind
) -> None:
    """The request left and no answer came back: the outcome is unknown (the fake kept the
    message with ACCEPT_THEN_DROP), and the ledger must not resend blindly."""
    state.faults.push(Fault(kind, method="sendMessage"))
    with pytest.raises(Transient) as info:
        await publisher(bot).send(CHANNEL, post())
    assert info.value.maybe_sent
    assert len(state.sent) == (1 if kind is FaultKind.ACCEPT_THEN_DROP else 0)


async def test_no_server_listening_means_the_request_never_left(
    request_kind: Callable[[], AiohttpRequest | None],
) -> None:
    """Connection refused: nothing reached Telegram, so a plain retry is safe."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = telegram.Bot(
        TELEGRAM_TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request_kind()
    )
    try:
        with pytest.raises(Transient) as info:
            await publisher(client).send(f"telegram:{USER}", post())
    finally:
        await client.shutdown()
    assert not info.value.maybe_sent


async def test_sends_carry_the_same_parameters_as_send_message(state: TelegramState) -> None:
    """The publisher's raw sendMessage (no Message built from the answer) sends what
    ``Bot.send_message`` sends: text, HTML, preview options, buttons, the paid flag."""
    message = TelegramMessage(
        "<b>Paper</b> 模型 &amp; more",
        disable_preview=False,
        preview_url="https://arxiv.org/abs/2601.00001",
        buttons=((Button("Read", "https://arxiv.org/abs/2601.00001"),),),
    )
    state.limits_enabled = False  # two messages to one chat at the fake's frozen moment
    async with running(make_telegram_app(state)) as base:
        client = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{base}/bot", request=AiohttpRequest())
        await client.initialize()
        try:
            paid = TelegramPublisher(
                client,
                CHANNEL_NAME,
                FrozenClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
                TelegramSettings(messages_per_second=1000),
            )
            sent = await paid.send(f"telegram:{USER}", Outgoing(1, None, message))
            await client.send_message(
                USER,
                message.text,
                parse_mode="HTML",
                link_preview_options=telegram.LinkPreviewOptions(
                    is_disabled=False, url="https://arxiv.org/abs/2601.00001"
                ),
                reply_markup=telegram.InlineKeyboardMarkup(
                    [
                        [
                            telegram.InlineKeyboardButton(
                                "Read", url="https://arxiv.org/abs/2601.00001"
                            )
                        ]
                    ]
                ),
                allow_paid_broadcast=True,
            )
        finally:
            await client.shutdown()
    ours, theirs = state.messages(USER)
    assert sent.remote_id == str(ours.message_id)
    assert ours.params == theirs.params
    assert ours.params["allow_paid_broadcast"] is True
    assert ours.visible_text == "Paper 模型 & more" and ours.reply_markup == theirs.reply_markup
