"""Composition root: Settings -> engine, sessions, clock, services, publishers, dispatcher."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.publish.base import CHANNEL, Publisher
from bot.publish.notify import LogNotifier, Notifier, TelegramNotifier
from bot.services.archive import ArchiveService
from bot.services.dispatch import Dispatcher
from bot.services.queue import QueueService
from bot.store.db import make_engine, make_sessionmaker, make_sync_engine

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Container:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sync_engine: Engine
    sessions: async_sessionmaker[AsyncSession]
    sync_sessions: sessionmaker[Session]
    archive: ArchiveService
    queue: QueueService
    publishers: dict[str, Publisher] = field(default_factory=dict)
    destinations: list[str] = field(default_factory=list)
    notifier: Notifier = field(default_factory=LogNotifier)
    telegram: Application | None = None  # type: ignore[type-arg]

    def dispatcher(self, rng: random.Random | None = None) -> Dispatcher:
        return Dispatcher(
            self.sessions,
            self.sync_sessions,
            self.clock,
            self.settings,
            self.publishers,
            self.destinations,
            self.notifier,
            rng,
        )

    async def aclose(self) -> None:
        for publisher in self.publishers.values():
            await publisher.close()
        if self.telegram is not None:
            await self.telegram.shutdown()
        await self.engine.dispose()
        self.sync_engine.dispose()


def build(settings: Settings, clock: Clock = system_clock) -> Container:
    engine = make_engine(settings.database_url)
    sync_engine = make_sync_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    sync_sessions = sessionmaker(sync_engine, expire_on_commit=False)
    archive = ArchiveService(sessions, sync_sessions, clock, settings.importer, settings.search)
    queue = QueueService(sessions, clock, settings.schedule, settings.twitter)
    return Container(settings, clock, engine, sync_engine, sessions, sync_sessions, archive, queue)


def telegram_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    assert settings.telegram.token is not None
    return (
        ApplicationBuilder()
        .token(settings.telegram.token.get_secret_value())
        .base_url(f"{settings.telegram.api_base_url.rstrip('/')}/bot")
        .base_file_url(f"{settings.telegram.api_base_url.rstrip('/')}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=0))
        .build()
    )


async def connect_publishers(app: Container, *, dry_run: bool = False) -> None:
    """Real adapters where credentials exist; each missing one is one clear log line."""
    from bot.publish.console import ConsolePublisher

    settings = app.settings
    if dry_run:
        app.publishers = {"x": ConsolePublisher("x"), "telegram": ConsolePublisher("telegram")}
        app.destinations = ["x", CHANNEL]
        logger.info("dry run: posts are printed, not published")
        return
    if settings.twitter.credentials_complete():
        from bot.publish.x import XPublisher, make_client

        app.publishers["x"] = XPublisher(make_client(settings.twitter), app.clock)
        app.destinations.append("x")
    else:
        logger.warning(
            "X disabled: set DIGESTBOT_TWITTER__CONSUMER_KEY, __CONSUMER_SECRET, "
            "__ACCESS_TOKEN and __ACCESS_TOKEN_SECRET to post there"
        )
    tg = settings.telegram
    if tg.token is None:
        logger.warning("Telegram disabled: set DIGESTBOT_TELEGRAM__TOKEN to post there")
        return
    from bot.publish.telegram import TelegramPublisher

    application = telegram_application(settings)
    await application.initialize()  # getMe: a wrong token fails here, clearly
    app.telegram = application
    app.notifier = TelegramNotifier(
        lambda chat, text: application.bot.send_message(chat, text), tg.maintainer_ids
    )
    if tg.channel_id:
        app.publishers["telegram"] = TelegramPublisher(application.bot, tg.channel_id, app.clock)
        app.destinations.append(CHANNEL)
    else:
        logger.warning("Telegram channel disabled: set DIGESTBOT_TELEGRAM__CHANNEL_ID")
