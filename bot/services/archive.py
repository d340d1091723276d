"""Archive use cases: import digests, list and show issues, search."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import ImporterSettings, SearchSettings
from bot.domain.digest import parse_digest
from bot.domain.model import DigestFormatError, IssueSummary, ParsedIssue, SearchFilters, SearchHit
from bot.domain.search import FtsQuery, build_query
from bot.services.sources import Loaded, expand_targets, load
from bot.store import archive as repo

Progress = Callable[[int, int, str], None]


WRITE_BATCH = 50


@dataclass(frozen=True, slots=True)
class _Parsed:
    source: str
    issue: ParsedIssue
    digest: str


class UnknownIssue(LookupError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no issue {key!r} in the archive (see `digestbot issues`)")
        self.key = key


@dataclass(slots=True)
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (issue key, warning)
    issues: list[ParsedIssue] = field(default_factory=list)  # added or updated

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    hits: list[SearchHit]


class ArchiveService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sync_sessions: sessionmaker[Session],
        clock: Clock,
        importer: ImporterSettings,
        search: SearchSettings,
        http: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._sessions = sessions
        self._sync_sessions = sync_sessions  # bulk writes, run in a worker thread
        self._clock = clock
        self._importer = importer
        self._search = search
        self._http = http or self._default_http

    def _default_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._importer.timeout_seconds,
            headers={"User-Agent": "digestbot (+https://github.com/digestbot)"},
        )

    async def import_targets(
        self, targets: Sequence[str], progress: Progress | None = None
    ) -> ImportReport:
        """Import files, folders and URLs; every source ends up added/updated/unchanged/failed."""
        expanded = expand_targets(targets)
        report = ImportReport()
        needs_http = any(t.startswith(("http://", "https://")) for t in expanded)
        client = self._http() if needs_http else None
        batch: list[Loaded] = []
        try:
            for done, target in enumerate(expanded, 1):
                batch.append(await load(target, client=client, max_bytes=self._importer.max_bytes))
                if len(batch) >= WRITE_BATCH:
                    await self._import_batch(batch, report)
                    batch = []
                if progress:
                    progress(done, len(expanded), target)
            await self._import_batch(batch, report)
        finally:
            if client is not None:
                await client.aclose()
        return report

    async def import_texts(self, texts: Sequence[tuple[str, str]]) -> ImportReport:
        report = ImportReport()
        for first in range(0, len(texts), WRITE_BATCH):
            chunk = texts[first : first + WRITE_BATCH]
            await self._import_batch([Loaded(name, body) for name, body in chunk], report)
        return report

    async def _import_batch(self, batch: Sequence[Loaded], report: ImportReport) -> None:
        """Parse what is new (texts already stored are skipped unparsed), write in one go."""
        if not batch:
            return
        hashes = {
            s.name: hashlib.sha256(s.text.encode()).hexdigest() for s in batch if s.text is not None
        }
        async with self._sessions() as session:
            known = await repo.keys_with_content(session, set(hashes.values()))
        parsed: list[_Parsed] = []
        for source in batch:
            if source.text is None:
                report.failed.append((source.name, source.error or "unreadable"))
            elif hashes[source.name] in known:
                report.unchanged.append(known[hashes[source.name]])
            else:
                try:
                    issue = parse_digest(source.text, source=source.name)
                except DigestFormatError as exc:
                    report.failed.append((source.name, str(exc)))
                    continue
                parsed.append(_Parsed(source.name, issue, hashes[source.name]))
        if parsed:
            outcomes = await asyncio.to_thread(self._write_sync, parsed, self._clock())
            self._record(parsed, outcomes, report)

    @staticmethod
    def _record(
        parsed: list[_Parsed], outcomes: list[repo.UpsertOutcome], report: ImportReport
    ) -> None:
        for item, outcome in zip(parsed, outcomes, strict=True):
            getattr(report, outcome).append(item.issue.key)
            if outcome != "unchanged":
                report.issues.append(item.issue)
                report.warnings.extend((item.issue.key, w) for w in item.issue.warnings)

    def _write_sync(self, batch: list[_Parsed], now: datetime) -> list[repo.UpsertOutcome]:
        with self._sync_sessions.begin() as session:
            return [
                repo.upsert_issue(session, p.issue, source=p.source, digest=p.digest, now=now)
                for p in batch
            ]

    async def issues(self) -> list[IssueSummary]:
        async with self._sessions() as session:
            return await repo.list_issues(session)

    async def issue(self, key: str) -> ParsedIssue:
        async with self._sessions() as session:
            found = await repo.load_issue(session, key.strip())
        if found is None:
            raise UnknownIssue(key)
        return found

    async def search(
        self, text: str, *, limit: int | None = None, filters: SearchFilters | None = None
    ) -> SearchResult:
        """Raises QueryTooLong; any other text gives results or an empty list."""
        query = build_query(text, self._search.max_query_chars)
        bounded = max(1, min(limit or self._search.default_limit, 100))
        hits = await asyncio.to_thread(
            self._search_sync, query, filters or SearchFilters(), bounded
        )
        return SearchResult(query.text, hits)

    def _search_sync(self, query: FtsQuery, filters: SearchFilters, limit: int) -> list[SearchHit]:
        with self._sync_sessions() as session:
            return repo.search_items(session, query, filters, limit)
