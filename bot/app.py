"""Composition root: Settings -> engine, sessions, clocks, services, platforms, dispatcher.

Everything is built once, here. Two clocks: ``clock`` decides which posts are due (``--now``
moves it); ``real_clock`` measures every wait (leases, back-offs, platform pauses, the X day)
so that a rehearsal at a travelled time leaves nothing that real runs then obey.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.publish.base import Publisher
from bot.publish.notify import Notifier
from bot.publish.platforms import Platforms
from bot.services.archive import ArchiveService
from bot.services.browse import BrowseService
from bot.services.queue import QueueService
from bot.services.subscribers import SubscriberService
from bot.store.data_version import ARCHIVE, SUBSCRIBERS, data_version
from bot.store.db import make_engine, make_sessionmaker, make_sync_engine

if TYPE_CHECKING:  # PTB is imported only by the commands that talk to Telegram
    from telegram.ext import Application, BaseRateLimiter

    from bot.services.audit import AuditService
    from bot.services.dispatch import Dispatcher
    from bot.services.feeds import FeedService
    from bot.services.preview import PreviewService
    from bot.services.proposal import ProposalService
    from bot.services.release import ReleaseService
    from bot.services.stats import StatsService
    from bot.services.uploads import UploadService

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Container:
    settings: Settings
    clock: Clock
    real_clock: Clock
    engine: AsyncEngine
    sync_engine: Engine
    sessions: async_sessionmaker[AsyncSession]
    sync_sessions: sessionmaker[Session]
    archive: ArchiveService
    queue: QueueService
    platforms: Platforms
    subscribers: SubscriberService
    browse: BrowseService

    # --- maintainer services (issue 8): built when first used, shared by CLI and Telegram ---

    @property
    def audit(self) -> AuditService:
        from bot.services.audit import AuditService

        return AuditService(self.sessions)

    @property
    def preview(self) -> PreviewService:
        from bot.services.preview import PreviewService

        return PreviewService(self.sessions, self.settings)

    @property
    def proposals(self) -> ProposalService:
        from bot.services.proposal import ProposalService

        return ProposalService(self.sessions, self.queue, self.settings.arxiv)

    @property
    def uploads(self) -> UploadService:
        from bot.services.uploads import UploadService

        return UploadService(self.sessions, self.archive, self.queue, self.settings.importer)

    @property
    def stats(self) -> StatsService:
        from bot.services.stats import StatsService

        return StatsService(self.sessions, self.settings, self.clock, self.real_clock)

    @property
    def release(self) -> ReleaseService:
        """``queue now`` / ``/now``: make due + open the platforms + one dispatcher tick."""
        from bot.services.release import ReleaseService

        async def connect(dry_run: bool) -> list[str]:
            return await connect_publishers(self, dry_run=dry_run)

        return ReleaseService(self.queue, self.platforms, self.dispatcher, connect)

    @property
    def feeds(self) -> FeedService:
        """Watched RSS/Atom feeds (issue 9); its back-off and alert times use the real clock."""
        from bot.services.feeds import FeedService

        return FeedService(
            self.sessions,
            self.real_clock,
            self.settings.feeds,
            self.archive,
            self.queue,
            lambda: self.platforms.notifier,
        )

    @property
    def publishers(self) -> dict[str, Publisher]:
        return self.platforms.publishers

    @publishers.setter
    def publishers(self, value: dict[str, Publisher]) -> None:  # benchmarks swap adapters
        self.platforms.publishers.clear()
        self.platforms.publishers.update(value)

    @property
    def destinations(self) -> list[str]:
        return self.platforms.destinations

    @destinations.setter
    def destinations(self, value: list[str]) -> None:
        self.platforms.destinations[:] = value

    @property
    def notifier(self) -> Notifier:
        return self.platforms.notifier

    @property
    def telegram(self) -> Application | None:  # type: ignore[type-arg]
        return self.platforms.telegram

    def dispatcher(
        self,
        rng: random.Random | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        drain_groups: bool = False,
    ) -> Dispatcher:
        """``sleep``: how the dispatcher waits for Telegram's overall pace (tests move their
        clock instead of sleeping); ``drain_groups``: a tick waits for the channel's next post
        when it is moments away (the long-running worker; see ``Dispatcher``)."""
        from bot.services.dispatch import Dispatcher  # twitter-text: a slow import

        return Dispatcher(
            self.sessions,
            self.sync_sessions,
            self.clock,
            self.settings,
            self.platforms.publishers,
            self.platforms.destinations,
            self.platforms.notifier,
            rng,
            real_clock=self.real_clock,
            waiting=self.platforms.waiting_reason,
            broadcast=self.platforms.telegram_configured,
            sleep=sleep,
            drain_groups=drain_groups,
        )

    async def aclose(self) -> None:
        await self.platforms.aclose()
        await self.engine.dispose()
        self.sync_engine.dispose()


def shares_telegram_budget(settings: Settings) -> bool:
    """Whether this process's replies take stamps in the Telegram budget every process sees.
    In webhook mode ``digestbot web`` processes answer while the workers broadcast; with Redis
    the budget is cheap to reach. Polling mode has one process answering and broadcasting, and
    a database stamp per reply would double a command's cost: its replies are not stamped
    (a reply Telegram refuses with 429 is sent again after ``retry_after``, see
    ``bot.telegram.replies``)."""
    return bool(settings.telegram.webhook_url or settings.redis_url)


def build(
    settings: Settings,
    clock: Clock = system_clock,
    *,
    real_clock: Clock | None = None,
    dry_run: bool = False,
    telegram_rate_limiter: Callable[[], BaseRateLimiter[Any]] | None = None,
) -> Container:
    """``real_clock`` defaults to ``clock`` (tests travel both together); ``--now`` runs pass
    the system clock."""
    real = real_clock or clock
    engine = make_engine(settings.database_url)
    sync_engine = make_sync_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    sync_sessions = sessionmaker(sync_engine, expire_on_commit=False)
    archive = ArchiveService(sessions, sync_sessions, clock, settings.importer, settings.search)
    queue = QueueService(sessions, clock, settings.schedule, settings.twitter, real_clock=real)
    browse_version = data_version(sync_engine, ARCHIVE)  # closed with the sync engine (dispose)
    subscribers = SubscriberService(
        sessions,
        clock,
        settings.schedule,
        version=data_version(sync_engine, SUBSCRIBERS),
        quiet_writes=browse_version,
    )
    browse = BrowseService(sync_sessions, clock, archive, settings.schedule, version=browse_version)

    def setup_telegram(application: Application) -> None:  # type: ignore[type-arg]
        from bot.telegram import Services, install
        from bot.telegram.maintainer.context import maintainer_services

        maintainer = maintainer_services(container)  # called after build() returned
        install(application, Services(archive, browse, subscribers, settings, clock, maintainer))

    def shared_limiter() -> BaseRateLimiter[Any]:
        """Every message this process sends counts in the budget all processes share
        (bot.services.pace): the database, or Redis when ``redis_url`` is set."""
        from telegram.ext import AIORateLimiter

        from bot.services.pace import reply_budget
        from bot.telegram.replies import SharedPace

        inner = telegram_rate_limiter() if telegram_rate_limiter else AIORateLimiter(max_retries=0)
        budget = reply_budget(
            settings.telegram,
            sync_sessions,
            real,
            quiet=browse_version,  # SQLite: stamps written on the read cache's own connection
            redis_url=settings.redis_url,
        )
        return SharedPace(budget, real, inner=inner)

    platforms = Platforms(
        settings,
        real,
        dry_run=dry_run,
        # replies join the shared budget where other processes send too: `digestbot web`
        # answers while workers broadcast (webhook mode), or the budget is in Redis
        telegram_rate_limiter=(
            shared_limiter if shares_telegram_budget(settings) else telegram_rate_limiter
        ),
        telegram_setup=setup_telegram,
    )
    container = Container(
        settings,
        clock,
        real,
        engine,
        sync_engine,
        sessions,
        sync_sessions,
        archive,
        queue,
        platforms,
        subscribers=subscribers,
        browse=browse,
    )
    return container


async def connect_publishers(app: Container, *, dry_run: bool = False) -> list[str]:
    """Open every configured platform; returns one line per platform that could not start (it
    is tried again later by ``run``). A platform without settings is one log line."""
    if dry_run and not app.platforms.dry_run:
        app.platforms.rehearse()
    if app.platforms.dry_run:
        logger.info("dry run: posts are printed, not published")
    for note in app.platforms.disabled_notes():
        logger.warning(note)
    return await app.platforms.connect()
