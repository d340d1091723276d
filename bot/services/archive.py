"""Archive use cases: import digests, list and show issues, search."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import ImporterSettings, SearchSettings
from bot.domain.digest import parse_digest
from bot.domain.model import DigestFormatError, IssueSummary, ParsedIssue, SearchFilters, SearchHit
from bot.domain.search import build_query
from bot.services.sources import Loaded, expand_targets, load
from bot.store import archive as repo

Progress = Callable[[int, int, str], None]


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
        clock: Clock,
        importer: ImporterSettings,
        search: SearchSettings,
        http: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._sessions = sessions
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
        try:
            for done, target in enumerate(expanded, 1):
                loaded = await load(target, client=client, max_bytes=self._importer.max_bytes)
                await self._import_one(loaded, report)
                if progress:
                    progress(done, len(expanded), target)
        finally:
            if client is not None:
                await client.aclose()
        return report

    async def import_texts(self, texts: Sequence[tuple[str, str]]) -> ImportReport:
        report = ImportReport()
        for name, body in texts:
            await self._import_one(Loaded(name, body), report)
        return report

    async def _import_one(self, loaded: Loaded, report: ImportReport) -> None:
        if loaded.text is None:
            report.failed.append((loaded.name, loaded.error or "unreadable"))
            return
        try:
            parsed = parse_digest(loaded.text, source=loaded.name)
        except DigestFormatError as exc:
            report.failed.append((loaded.name, str(exc)))
            return
        digest = hashlib.sha256(loaded.text.encode()).hexdigest()
        async with self._sessions.begin() as session:
            outcome = await repo.upsert_issue(
                session, parsed, source=loaded.name, digest=digest, now=self._clock()
            )
        getattr(report, outcome).append(parsed.key)
        if outcome != "unchanged":
            report.issues.append(parsed)
            report.warnings.extend((parsed.key, w) for w in parsed.warnings)

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
        async with self._sessions() as session:
            hits = await repo.search_items(session, query, filters or SearchFilters(), bounded)
        return SearchResult(query.text, hits)
