"""The strict fake's getFile and file download (what /import uses), with PTB's own Bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import telegram
from telegram.error import BadRequest

from bot.sandbox import TelegramState, make_telegram_app, running
from tests.builders import TELEGRAM_TOKEN


@pytest.fixture
async def served() -> AsyncIterator[tuple[telegram.Bot, TelegramState, str]]:
    state = TelegramState()
    async with running(make_telegram_app(state)) as url:
        bot = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")
        async with bot:
            yield bot, state, url


async def test_get_file_then_download(served: tuple[telegram.Bot, TelegramState, str]) -> None:
    bot, state, _ = served
    document = state.add_file("# ML news 周报\n".encode(), "digest.md")
    found = await bot.get_file(document["file_id"])
    assert found.file_size == len("# ML news 周报\n".encode())
    assert bytes(await found.download_as_bytearray()) == "# ML news 周报\n".encode()
    assert state.rejected == []


async def test_unknown_files_are_refused(served: tuple[telegram.Bot, TelegramState, str]) -> None:
    bot, state, url = served
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("no-such-file")
    async with httpx.AsyncClient() as client:
        missing = await client.get(f"{url}/file/bot{TELEGRAM_TOKEN}/documents/file_9")
        bad_token = await client.get(f"{url}/file/botnot-a-token/documents/file_1")
    assert missing.status_code == 404 and bad_token.status_code == 401
    assert [r.description for r in state.rejected] == ["Bad Request: invalid file_id"]
