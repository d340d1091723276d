"""Fixtures for the sandbox servers: fake clock, states, running servers, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import telegram
import tweepy

from bot.publish.x_session import route_client
from bot.sandbox import ServerThread, TelegramState, XState, make_telegram_app, make_x_app, running
from bot.sandbox.clock import FakeClock
from tests.builders import TELEGRAM_TOKEN, X_KEYS


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


#: the chats the fake Telegram knows: a channel, a supergroup, and users 1..49 who sent /start
KNOWN_CHATS: set[int | str] = {"@digest_channel", -1001234567890}
STARTED_USERS = set(range(1, 50))


@pytest.fixture
def telegram_state(fake_clock: FakeClock) -> TelegramState:
    return TelegramState(clock=fake_clock, chats=set(KNOWN_CHATS), users=set(STARTED_USERS))


@pytest.fixture
async def telegram_base_url(telegram_state: TelegramState) -> AsyncIterator[str]:
    async with running(make_telegram_app(telegram_state)) as base_url:
        yield base_url


@pytest.fixture
async def telegram_bot(telegram_base_url: str) -> AsyncIterator[telegram.Bot]:
    bot = telegram.Bot(TELEGRAM_TOKEN, base_url=f"{telegram_base_url}/bot")
    await bot.initialize()
    try:
        yield bot
    finally:
        await bot.shutdown()


def make_x_state(clock: FakeClock) -> XState:
    """An XState that knows the test credentials, so signatures are verified."""
    return XState(
        clock=clock,
        consumer_key=X_KEYS["consumer_key"],
        consumer_secret=X_KEYS["consumer_secret"],
        access_token=X_KEYS["access_token"],
        access_token_secret=X_KEYS["access_token_secret"],
    )


@pytest.fixture
def x_state(fake_clock: FakeClock) -> XState:
    return make_x_state(fake_clock)


@pytest.fixture
def x_base_url(x_state: XState) -> Iterator[str]:
    with ServerThread(make_x_app(x_state)) as base_url:
        yield base_url


@pytest.fixture
def x_client(x_base_url: str) -> tweepy.Client:
    client = tweepy.Client(**X_KEYS)
    route_client(client, x_base_url)
    return client
