"""E2E rigs: the real tweepy and python-telegram-bot adapters (``connect_publishers``) against
the strict fake servers on 127.0.0.1, with the fakes' clocks tied to the simulated clock.

Two flavours:

* in-process (:func:`open_rig`): the fakes run on the test's event loop, the container is the
  production composition (``build`` + ``connect_publishers``), time is a :class:`FrozenClock`;
* subprocess (:class:`SubprocessSandbox`): the fakes run in :class:`ServerThread` s and
  ``digestbot`` is started as a console script with the environment pointing at them.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select
from telegram.ext import AIORateLimiter

from bot.app import Container, build, connect_publishers
from bot.clock import FrozenClock
from bot.config import Settings
from bot.domain.model import ParsedItem
from bot.publish.base import Outgoing
from bot.sandbox import (
    FaultInjector,
    SentMessage,
    ServerThread,
    TelegramState,
    XPost,
    XState,
    make_telegram_app,
    make_x_app,
    running,
)
from bot.services.compose import compose_post
from bot.services.dispatch import Dispatcher
from bot.store import queue as repo
from bot.store.models import Delivery, Post
from tests.builders import TELEGRAM_TOKEN, X_KEYS, item, store, weekly

CHANNEL = "@demo"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DESTINATIONS = ("x", "telegram:channel")
DIGESTBOT = Path(sys.executable).with_name("digestbot")
FINAL = ("sent", "failed", "dead", "parked", "cancelled")


def tuned(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """``settings`` with some keys of some sections replaced (no re-validation)."""
    update = {k: getattr(settings, k).model_copy(update=v) for k, v in sections.items()}
    return settings.model_copy(update=update)


def sandbox_settings(settings: Settings, telegram_url: str, x_url: str) -> Settings:
    """Credentials and base URLs for both fakes, as an operator would set them."""
    keys: dict[str, Any] = {k: SecretStr(v) for k, v in X_KEYS.items()}
    return tuned(
        settings,
        telegram={
            "token": SecretStr(TELEGRAM_TOKEN),
            "api_base_url": telegram_url,
            "channel_id": CHANNEL,
        },
        twitter={**keys, "api_base_url": x_url},
    )


def make_states(
    epoch: Callable[[], float],
    *,
    telegram_faults: FaultInjector | None = None,
    x_faults: FaultInjector | None = None,
    limits: bool = True,
    x_post_limit: int = 17,
) -> tuple[TelegramState, XState]:
    """Fresh fake states whose rate limits, dates and ``x-rate-limit-reset`` follow ``epoch``."""
    telegram = TelegramState(
        clock=epoch,
        wall_clock=epoch,
        limits_enabled=limits,
        faults=telegram_faults or FaultInjector(),
        chats={CHANNEL},  # the bot is in the channel; other chats are "chat not found"
        valid_tokens={TELEGRAM_TOKEN},
    )
    x = XState(
        limits_enabled=limits,
        post_limit=x_post_limit,
        faults=x_faults or FaultInjector(),
        clock=epoch,
        consumer_key=X_KEYS["consumer_key"],
        consumer_secret=X_KEYS["consumer_secret"],
        access_token=X_KEYS["access_token"],
        access_token_secret=X_KEYS["access_token_secret"],
    )
    return telegram, x


async def tick_until_sent(app: Container, seconds: float = 120.0) -> None:
    """Dispatcher ticks on the real clock until no delivery is pending or being sent (at most
    ``seconds``): a broadcast through the real adapter, to the end."""
    dispatcher = app.dispatcher()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await dispatcher.tick()
        async with app.sessions() as session:
            left = await session.scalar(
                select(Delivery.id).where(Delivery.state.in_(("pending", "sending")))
            )
        if left is None:
            return
        await asyncio.sleep(0.05)


def unlimited_ptb_limiter(max_retries: int = 0) -> AIORateLimiter:
    """PTB's AIORateLimiter with its wall-clock limits off (simulated time cannot drive it)."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)


def comments(n: int, *, start: int = 1) -> list[ParsedItem]:
    return [
        item(i, f"Comment number {i} on paper {i}.", arxiv=f"2601.{i:05d}")
        for i in range(start, start + n)
    ]


@dataclass
class Rig:
    """A production container wired to the fakes, plus the fakes' states to inspect."""

    app: Container
    clock: FrozenClock
    telegram: TelegramState
    x: XState
    dispatcher: Dispatcher

    async def enqueue(
        self, items: Sequence[ParsedItem], key: str = "2026-W10"
    ) -> tuple[list[int], int]:
        """Store one weekly issue with ``items`` and queue it: (paper post ids, digest id)."""
        await store(self.app, weekly(key, list(items)))
        report = await self.app.queue.enqueue_issues([key])
        assert len(report.digests) == 1
        return report.papers, report.digests[0]

    async def ledger(self) -> list[Delivery]:
        async with self.app.sessions() as session:
            return await repo.ledger_rows(session)

    async def posts(self) -> dict[int, Post]:
        async with self.app.sessions() as session:
            return {p.id: p for p in await session.scalars(select(Post))}

    async def outgoing(self, post_id: int) -> Outgoing:
        async with self.app.sessions() as session:
            composed = await compose_post(session, post_id, self.app.settings)
        assert composed is not None
        return composed

    def channel(self) -> list[SentMessage]:
        return self.telegram.messages(CHANNEL)

    def tweets(self) -> list[XPost]:
        return [p for p in self.x.posts if not p.deleted]


@asynccontextmanager
async def open_rig(
    settings: Settings,
    clock: FrozenClock,
    *,
    telegram: TelegramState | None = None,
    x: XState | None = None,
    seed: int = 1,
) -> AsyncIterator[Rig]:
    """Serve both fakes on this loop, build the container and connect the real adapters."""
    epoch = lambda: clock().timestamp()  # noqa: E731
    tg_default, x_default = make_states(epoch)
    tg_state, x_state = telegram or tg_default, x or x_default
    async with running(make_telegram_app(tg_state)) as tg_url, running(make_x_app(x_state)) as xu:
        app = build(sandbox_settings(settings, tg_url, xu), clock)
        try:
            await connect_publishers(app)
            assert sorted(app.publishers) == ["telegram", "x"]
            assert tuple(app.destinations) == DESTINATIONS
            yield Rig(app, clock, tg_state, x_state, app.dispatcher(random.Random(seed)))
        finally:
            await app.aclose()


@pytest.fixture
def lift_ptb_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``connect_publishers`` build PTB without its wall-clock AIORateLimiter limits.

    AIORateLimiter sleeps on the event loop's clock (20 messages a minute per channel), which
    simulated time cannot advance; the fake server and our ChatPacer still enforce the
    Telegram limits on the simulated clock."""
    monkeypatch.setattr("bot.publish.telegram.AIORateLimiter", unlimited_ptb_limiter)


# --- subprocesses --------------------------------------------------------------------------


class HoldAfterAccept:
    """aiohttp middleware: the next matching POST is handled (and recorded) normally, then its
    answer is held back for ``seconds``: the platform has the post, the client is waiting.
    ``holding`` is set once the request has been processed (observable from other threads)."""

    def __init__(self, path_suffix: str) -> None:
        self.path_suffix = path_suffix
        self.seconds = 0.0
        self.armed = False
        self.holding = threading.Event()

    def arm(self, seconds: float) -> None:
        self.seconds, self.armed = seconds, True

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if self.armed and request.method == "POST" and request.path.endswith(self.path_suffix):
            self.armed = False
            self.holding.set()
            await asyncio.sleep(self.seconds)
        return response


class SimEpoch:
    """A settable epoch clock for fakes serving subprocesses that run with ``--now``;
    ``live = True`` makes it follow the real clock (for ``digestbot run``)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.live = False

    def __call__(self) -> float:
        return time.time() if self.live else self.now.timestamp()


@dataclass
class SubprocessSandbox:
    telegram: TelegramState
    x: XState
    telegram_url: str
    x_url: str
    epoch: SimEpoch
    db_url: str
    cwd: Path
    x_hold: HoldAfterAccept

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
        env.update(
            DIGESTBOT_DATABASE_URL=self.db_url,
            DIGESTBOT_LOG_LEVEL="INFO",
            DIGESTBOT_TELEGRAM__TOKEN=TELEGRAM_TOKEN,
            DIGESTBOT_TELEGRAM__API_BASE_URL=self.telegram_url,
            DIGESTBOT_TELEGRAM__CHANNEL_ID=CHANNEL,
            DIGESTBOT_TWITTER__API_BASE_URL=self.x_url,
            DIGESTBOT_TWITTER__CONSUMER_KEY=X_KEYS["consumer_key"],
            DIGESTBOT_TWITTER__CONSUMER_SECRET=X_KEYS["consumer_secret"],
            DIGESTBOT_TWITTER__ACCESS_TOKEN=X_KEYS["access_token"],
            DIGESTBOT_TWITTER__ACCESS_TOKEN_SECRET=X_KEYS["access_token_secret"],
            NO_COLOR="1",
        )
        env.update(extra)
        return env

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(DIGESTBOT), *args],
            cwd=self.cwd,
            env=self.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def dispatch(self, now: datetime | None, **env: str) -> subprocess.Popen[str]:
        """Start ``digestbot dispatch --once --now NOW`` (the fakes' clock moves to NOW);
        ``None``: no ``--now``, the real clock."""
        if now is None:
            return self.start("dispatch", "--once", "--json", **env)
        self.epoch.now = max(self.epoch.now, now)
        return self.start("dispatch", "--once", "--now", now.isoformat(), "--json", **env)

    def dispatch_done(self, now: datetime, timeout: float = 60.0) -> str:
        """Run one dispatch to completion; returns its stdout (exit 0 or 1: failures reported)."""
        proc = self.dispatch(now)
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{out}\n{err}"
        return out


@pytest.fixture
def subprocess_sandbox(db_url: str, tmp_path: Path) -> Iterator[SubprocessSandbox]:
    epoch = SimEpoch(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    tg_state, x_state = make_states(epoch)
    x_app = make_x_app(x_state)
    x_hold = HoldAfterAccept("/2/tweets")
    x_app.middlewares.append(x_hold.middleware)
    with ServerThread(make_telegram_app(tg_state)) as tg_url, ServerThread(x_app) as xu:
        yield SubprocessSandbox(tg_state, x_state, tg_url, xu, epoch, db_url, tmp_path, x_hold)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll an observable condition (another process's progress) with a bounded deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


async def prepare_queue(
    settings: Settings, clock: FrozenClock, items: Sequence[ParsedItem], key: str = "2026-W10"
) -> tuple[list[int], int]:
    """Queue ``items`` (and the issue's digest) in the database, as the operator would."""
    app = build(settings, clock)
    try:
        await store(app, weekly(key, list(items)))
        report = await app.queue.enqueue_issues([key])
        return report.papers, report.digests[0]
    finally:
        await app.aclose()


async def read_ledger(settings: Settings) -> list[Delivery]:
    app = build(settings)
    try:
        async with app.sessions() as session:
            return await repo.ledger_rows(session)
    finally:
        await app.aclose()


async def read_posts(settings: Settings) -> dict[int, Post]:
    app = build(settings)
    try:
        async with app.sessions() as session:
            return {p.id: p for p in await session.scalars(select(Post))}
    finally:
        await app.aclose()


def channel_counts(state: TelegramState) -> dict[str, int]:
    """How many channel messages carry each raw text."""
    counts: dict[str, int] = {}
    for message in state.messages(CHANNEL):
        counts[message.text] = counts.get(message.text, 0) + 1
    return counts


__all__ = [
    "CHANNEL",
    "DESTINATIONS",
    "FINAL",
    "Rig",
    "SimEpoch",
    "SubprocessSandbox",
    "channel_counts",
    "comments",
    "make_states",
    "open_rig",
    "prepare_queue",
    "read_ledger",
    "read_posts",
    "tuned",
    "wait_until",
]
