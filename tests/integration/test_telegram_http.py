"""PTB over aiohttp (``bot.publish.telegram_http``) against the strict fake: what the bot does
besides sending text (uploads, file downloads, long polling on PTB's own request), and the
application the adapter builds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import telegram
from pydantic import SecretStr
from telegram.error import BadRequest, TimedOut
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.publish.telegram import telegram_application
from bot.publish.telegram_http import AiohttpRequest
from bot.sandbox import Fault, FaultKind, TelegramState, make_telegram_app, running
from tests.builders import TELEGRAM_TOKEN

USER = 4242
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def served() -> AsyncIterator[tuple[telegram.Bot, TelegramState]]:
    state = TelegramState(users={USER}, limits_enabled=False)
    async with running(make_telegram_app(state)) as url:
        bot = telegram.Bot(
            TELEGRAM_TOKEN,
            base_url=f"{url}/bot",
            base_file_url=f"{url}/file/bot",
            request=AiohttpRequest(read_timeout=0.5),
        )
        async with bot:
            yield bot, state


async def test_a_photo_is_uploaded_as_multipart(
    served: tuple[telegram.Bot, TelegramState],
) -> None:
    bot, state = served
    message = await bot.send_photo(USER, PNG, caption="<b>Stats</b> 周报", parse_mode="HTML")
    [sent] = state.messages(USER)
    assert (sent.kind, sent.visible_text) == ("photo", "Stats 周报")
    assert message.caption == "Stats 周报" and message.photo


async def test_a_file_is_found_then_downloaded(
    served: tuple[telegram.Bot, TelegramState],
) -> None:
    bot, state = served
    content = "# ML news 周报\n".encode()
    document = state.add_file(content, "digest.md")
    found = await bot.get_file(document["file_id"])
    assert bytes(await found.download_as_bytearray()) == content
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("no-such-file")


async def test_a_slow_answer_times_out_and_a_call_may_wait_longer(
    served: tuple[telegram.Bot, TelegramState],
) -> None:
    bot, state = served
    state.faults.push(Fault(FaultKind.SLOW, method="getMe", delay=1.0))
    with pytest.raises(TimedOut) as info:
        await bot.get_me()
    assert info.value.__cause__ is not None  # the adapter reads what failed from the cause
    state.faults.push(Fault(FaultKind.SLOW, method="getMe", delay=0.8))
    me = await bot.get_me(read_timeout=5.0)
    assert me.username == state.bot_user["username"]


async def test_the_application_sends_over_aiohttp_and_polls_with_ptb(settings: Settings) -> None:
    state = TelegramState(users={USER})
    state.push_update(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": USER, "type": "private"},
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "text": "hello",
            }
        }
    )
    async with running(make_telegram_app(state)) as url:
        section = {"token": SecretStr(TELEGRAM_TOKEN), "api_base_url": url}
        tuned = settings.model_copy(
            update={"telegram": settings.telegram.model_copy(update=section)}
        )
        application = telegram_application(tuned)
        bot = application.bot
        assert isinstance(bot.request, AiohttpRequest)
        await application.initialize()
        try:
            updates = await bot.get_updates(timeout=0)
            await bot.send_message(USER, "hi <i>there</i>", parse_mode="HTML")
        finally:
            await application.shutdown()
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert isinstance(bot._request[0], HTTPXRequest)  # getUpdates: PTB's own request
    assert [m.visible_text for m in state.messages(USER)] == ["hi there"]
    assert state.rejected == []


async def test_an_error_quoting_the_url_does_not_carry_the_token() -> None:
    """aiohttp's InvalidURL (and a few others) quote the URL, whose path holds the token: the
    NetworkError PTB raises (and the bot may log or show) says where without the secret."""
    from telegram.error import NetworkError

    request = AiohttpRequest(read_timeout=0.5)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request(f"http://[bad/bot{TELEGRAM_TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    message = str(caught.value)
    assert "InvalidUrl" in message or "InvalidURL" in message, message
    assert TELEGRAM_TOKEN not in message and TELEGRAM_TOKEN.split(":")[1] not in message

