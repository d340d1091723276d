"""The archive's read commands (``issues``, ``show``, ``search``) on SQLite, started fast.

On a SQLite file they run the archive's read use cases (``bot.services.archive_reads``) on a
plain ``sqlite3`` connection with the same SQL the app runs (``bot.store.archive_sqlite``,
``bot.store.search_sqlite``): no SQLAlchemy, no composition root, no event loop work. Any
other database (PostgreSQL, in-memory SQLite) gets the app's ``ArchiveService``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from bot.services import archive_reads as reads
from bot.store.archive_sqlite import SqliteReads
from bot.store.sqlite_conn import connect, sqlite_path

if TYPE_CHECKING:
    from bot.config import SearchSettings, Settings
    from bot.domain.model import IssueSummary, Language, ParsedIssue, SearchFilters


class Archive(Protocol):
    """What the read commands ask of the archive (``ArchiveService`` answers it too)."""

    async def issues(self) -> list[IssueSummary]: ...

    async def issue(self, key: str, language: str | None = None) -> ParsedIssue: ...

    async def languages(self, key: str) -> list[Language]: ...

    async def search(
        self,
        text: str,
        *,
        limit: int | None = None,
        filters: SearchFilters | None = None,
        offset: int = 0,
    ) -> reads.SearchResult: ...


class SqliteArchive:
    """``Archive`` on one sqlite3 connection: the use cases run in this thread."""

    def __init__(self, queries: reads.ArchiveReads, search: SearchSettings) -> None:
        self._reads = queries
        self._search = search

    async def issues(self) -> list[IssueSummary]:
        return self._reads.issues()

    async def issue(self, key: str, language: str | None = None) -> ParsedIssue:
        return reads.find_issue(self._reads, key, language)

    async def languages(self, key: str) -> list[Language]:
        return reads.issue_languages(self._reads, key)

    async def search(
        self,
        text: str,
        *,
        limit: int | None = None,
        filters: SearchFilters | None = None,
        offset: int = 0,
    ) -> reads.SearchResult:
        return reads.search(
            self._reads, self._search, text, limit=limit, filters=filters, offset=offset
        )


@asynccontextmanager
async def archive(settings: Settings) -> AsyncIterator[Archive]:
    """The archive to read: a SQLite file directly, anything else through the app."""
    path = sqlite_path(settings.database_url)
    if path is None:
        from bot.cli.common import container

        async with container(settings) as app:
            yield app.archive
        return
    conn = connect(path)
    try:
        yield SqliteArchive(SqliteReads(conn, {}), settings.search)
    finally:
        conn.close()
