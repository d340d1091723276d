"""Composition root: Settings -> engine, sessions, clock, services."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.services.archive import ArchiveService
from bot.store.db import make_engine, make_sessionmaker


@dataclass(slots=True)
class Container:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    archive: ArchiveService

    async def aclose(self) -> None:
        await self.engine.dispose()


def build(settings: Settings, clock: Clock = system_clock) -> Container:
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    archive = ArchiveService(sessions, clock, settings.importer, settings.search)
    return Container(settings, clock, engine, sessions, archive)
