"""Archive use cases: import digests, list and show issues, search."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import ImporterSettings, SearchSettings
from bot.domain.digest import parse_digest
from bot.domain.keys import normalize_key
from bot.domain.model import (
    DigestFormatError,
    IssueSummary,
    Language,
    ParsedIssue,
    SearchFilters,
)
from bot.services import archive_reads as reads
from bot.services.archive_reads import AmbiguousIssue as AmbiguousIssue
from bot.services.archive_reads import ArchiveReads
from bot.services.archive_reads import SearchResult as SearchResult
from bot.services.archive_reads import UnknownIssue as UnknownIssue
from bot.services.sources import Loaded, expand_targets, is_web_url, load
from bot.store import archive as repo
from bot.store.queue import take_lock

Progress = Callable[[int, int, str], None]
_T = TypeVar("_T")


WRITE_BATCH = 50
PARALLEL_FROM_BATCHES = 3  # a parser process pays off from about 150 digests


def parse_or_reason(text: str, source: str) -> ParsedIssue | str:
    """For the parser process: a parsed issue, or the reason it is not a digest."""
    try:
        return parse_digest(text, source=source)
    except DigestFormatError as exc:
        return str(exc)


_Parse = Callable[[str, str], Awaitable[ParsedIssue | str]]


@contextmanager
def _parser(*, parallel: bool) -> Iterator[_Parse]:
    """Parse in this process, or in one spawned worker process for large imports."""
    if not parallel:

        async def inline(text: str, source: str) -> ParsedIssue | str:
            return parse_or_reason(text, source)

        yield inline
        return
    spawn = multiprocessing.get_context("spawn")  # never fork a process that has threads
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:

        async def in_pool(text: str, source: str) -> ParsedIssue | str:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool, parse_or_reason, text, source)

        yield in_pool


@dataclass(frozen=True, slots=True)
class _Parsed:
    source: str
    issue: ParsedIssue
    digest: str


@dataclass(frozen=True, slots=True)
class ImportedIssue:
    """One issue an import added, updated or found unchanged, and the source it came from."""

    key: str
    language: Language
    outcome: repo.UpsertOutcome
    source: str


@dataclass(frozen=True, slots=True)
class Removal:
    """What ``issues rm`` removed."""

    key: str
    languages: list[Language]
    items: int
    papers: int  # no longer in any issue or post
    cancelled_posts: int  # queued posts of the issue (sent ones stay in the ledger)


@dataclass(slots=True)
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (issue key, warning)
    issues: list[ParsedIssue] = field(default_factory=list)  # added or updated
    imported: list[ImportedIssue] = field(default_factory=list)  # with languages and sources

    @property
    def ok(self) -> bool:
        return not self.failed


def _first_claim(
    claims: dict[tuple[str, Language], tuple[str, str]],
    key: str,
    language: Language,
    source: str,
    digest: str,
    report: ImportReport,
) -> bool:
    """True for the first source of an issue (key and language) in this import run. Another
    source with the same text is reported unchanged; one with another text is skipped."""
    first = claims.setdefault((key, language), (source, digest))
    if first == (source, digest):
        return True
    if first[1] == digest:
        report.unchanged.append(key)
        report.imported.append(ImportedIssue(key, language, "unchanged", source))
    else:
        report.warnings.append(
            (key, f"{source} is another {language} text of {key}: skipped, kept {first[0]}")
        )
    return False


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
        expanded, failed = expand_targets(targets)
        client = self._http() if any(is_web_url(t) for t in expanded) else None
        try:
            loaded = [
                await load(
                    target,
                    client=client,
                    max_bytes=self._importer.max_bytes,
                    deadline_seconds=self._importer.timeout_seconds,
                )
                for target in expanded
            ]
        finally:
            if client is not None:
                await client.aclose()
        return await self._import_all([*failed, *loaded], progress)

    async def import_texts(self, texts: Sequence[tuple[str, str]]) -> ImportReport:
        return await self._import_all([Loaded(name, body) for name, body in texts], None)

    async def _import_all(self, sources: list[Loaded], progress: Progress | None) -> ImportReport:
        """Batches of WRITE_BATCH: while one batch is written (a worker thread), the next is
        parsed (a worker process for large imports: the two overlap on two cores)."""
        report = ImportReport()
        claims: dict[tuple[str, Language], tuple[str, str]] = {}  # -> (source, content hash)
        batches = [sources[i : i + WRITE_BATCH] for i in range(0, len(sources), WRITE_BATCH)]
        with _parser(parallel=len(batches) >= PARALLEL_FROM_BATCHES) as parse:
            writing: asyncio.Task[None] | None = None
            done = 0
            for batch in batches:
                parsed = await self._parse_new(batch, report, parse, claims)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._write(parsed, report))
                done += len(batch)
                if progress:
                    progress(done, len(sources), batch[-1].name)
            if writing is not None:
                await writing
        return report

    async def _parse_new(
        self,
        batch: Sequence[Loaded],
        report: ImportReport,
        parse: _Parse,
        claims: dict[tuple[str, Language], tuple[str, str]],
    ) -> list[_Parsed]:
        """Parse what is new; texts already stored are reported unchanged without parsing.

        ``claims``: the first source of each key and language in this run; a later source
        with another text for the same issue is skipped with a warning."""
        hashes = [
            hashlib.sha256(s.text.encode()).hexdigest() if s.text is not None else "" for s in batch
        ]
        async with self._sessions() as session:
            known = await repo.keys_with_content(session, {h for h in hashes if h})
        todo = [(s, h) for s, h in zip(batch, hashes, strict=True) if s.text is not None]
        results = await asyncio.gather(
            *(parse(s.text or "", s.name) for s, h in todo if h not in known)
        )
        outcomes = iter(results)
        parsed: list[_Parsed] = []
        for source, digest in zip(batch, hashes, strict=True):
            if source.text is None:
                report.failed.append((source.name, source.error or "unreadable"))
            elif digest in known:
                key, language = known[digest]
                if _first_claim(claims, key, language, source.name, digest, report):
                    report.unchanged.append(key)
                    report.imported.append(ImportedIssue(key, language, "unchanged", source.name))
            else:
                issue = next(outcomes)
                if isinstance(issue, str):
                    report.failed.append((source.name, issue))
                elif _first_claim(claims, issue.key, issue.language, source.name, digest, report):
                    parsed.append(_Parsed(source.name, issue, digest))
        return parsed

    async def _write(self, parsed: list[_Parsed], report: ImportReport) -> None:
        if parsed:
            outcomes = await asyncio.to_thread(self._write_sync, parsed, self._clock())
            self._record(parsed, outcomes, report)

    @staticmethod
    def _record(
        parsed: list[_Parsed], outcomes: list[repo.UpsertOutcome], report: ImportReport
    ) -> None:
        for item, outcome in zip(parsed, outcomes, strict=True):
            getattr(report, outcome).append(item.issue.key)
            report.imported.append(
                ImportedIssue(item.issue.key, item.issue.language, outcome, item.source)
            )
            if outcome != "unchanged":
                report.issues.append(item.issue)
                report.warnings.extend((item.issue.key, w) for w in item.issue.warnings)

    def _write_sync(self, batch: list[_Parsed], now: datetime) -> list[repo.UpsertOutcome]:
        with self._sync_sessions.begin() as session:
            return [
                repo.upsert_issue(session, p.issue, source=p.source, digest=p.digest, now=now)
                for p in batch
            ]

    def _read(self, use_case: Callable[[ArchiveReads], _T]) -> _T:
        """A read use case (``bot.services.archive_reads``) on a sync session's queries, run
        in the worker thread: on SQLite they are the very SQL the command line's fast path
        runs."""
        with self._sync_sessions() as session:
            return use_case(repo.session_reads(session))

    async def issues(self) -> list[IssueSummary]:
        return await asyncio.to_thread(self._read, lambda r: r.issues())

    async def issue(self, key: str, language: str | None = None) -> ParsedIssue:
        """The issue ``key`` (any spelling: ``2020-w39``) in ``language``, by default in the
        language imported first."""
        return await asyncio.to_thread(self._read, lambda r: reads.find_issue(r, key, language))

    async def languages(self, key: str) -> list[Language]:
        """The languages the issue ``key`` exists in, first imported first."""
        return await asyncio.to_thread(self._read, lambda r: reads.issue_languages(r, key))

    async def remove(self, key: str, language: str | None = None) -> Removal:
        """Remove an issue with its items and search rows and cancel its queued posts. Without
        ``language`` the issue must exist in one language only (AmbiguousIssue otherwise)."""
        canonical = normalize_key(key)
        if canonical is None:
            raise UnknownIssue(key.strip(), language)
        now = self._clock()
        async with self._sessions.begin() as session:
            await take_lock(session, "queue", now)  # queue edits wait: their posts change too
            languages = await repo.issue_languages(session, canonical)
            chosen = [lang for lang in languages if language in (None, lang)]
            if not chosen:
                raise UnknownIssue(canonical, language, languages)
            if len(chosen) > 1:
                raise AmbiguousIssue(canonical, chosen)
            ids = await repo.issue_ids(session, canonical, chosen[0])
            items, cancelled, papers = await repo.remove_issues(session, ids, now)
        return Removal(canonical, chosen, items, papers, cancelled)

    async def search(
        self,
        text: str,
        *,
        limit: int | None = None,
        filters: SearchFilters | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """Items with every word; when none has them all, the best items with any of them
        (``relaxed``). Raises QueryTooLong; any other text gives results or an empty list.
        ``offset``: skip that many of the best (paging; at most ``limit`` per call)."""
        query, bounded = reads.plan_search(text, self._search, limit)
        found = filters or SearchFilters()
        hits, relaxed = await asyncio.to_thread(
            self._read, lambda r: reads.run_search(r, query, found, bounded, offset)
        )
        return SearchResult(query.text, hits, relaxed)
