"""Browsing for subscribers: this week's picks and drip, any issue with its neighbours, the
newest digest, recent picks, and search results page by page. Read-only (no commits).

Every answer is kept (``bot.services.read_cache``) until the archive changes: a repeated
/week, /latest, /picks or popular search costs a change check (microseconds, SQLite's
``data_version``, and the archive's content counter when it moved) instead of a worker-thread
hop and its queries. Any commit that wrote what these answers read, by this process or another
(an import, a removal, a post sent), drops every kept answer, so an answer is never older
than the last such commit; the ledger's deliveries of a post still being broadcast and a
subscriber's settings do not (``bot.store.data_version``, scope ``ARCHIVE``). On PostgreSQL
nothing is kept (no cheap signal)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import ScheduleSettings
from bot.domain.keys import normalize_key
from bot.domain.model import SearchHit
from bot.services.archive import ArchiveService, UnknownIssue
from bot.services.read_cache import ReadCache
from bot.store import browse as repo
from bot.store.data_version import ARCHIVE, DataVersion, data_version

MAX_PER_PAGE = 50
MAX_PAGE = 1000  # a forged page number is clamped, never an error
CACHED_ANSWERS = 512  # views and search pages kept until the database changes
KEPT_PAGE_SIZE = 10  # larger pages (inline mode's 50) are not kept: memory stays ~ a few MB
_T = TypeVar("_T")
_YEAR_NUMBER = re.compile(r"(\d{4})-(\d{1,2})")


@dataclass(frozen=True, slots=True)
class Entry:
    headline: str
    title: str | None
    url: str | None
    issue: str
    pick: bool


@dataclass(frozen=True, slots=True)
class WeekView:
    key: str
    title: str
    url: str | None
    picks: list[Entry]
    dripped: list[Entry]
    prev_key: str | None
    next_key: str | None
    language: str = "en"  # the language of this issue's text (and its picks)


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    hits: list[SearchHit]
    page: int
    per_page: int
    has_prev: bool
    has_next: bool
    relaxed: bool


def week_candidates(key: str) -> list[str]:
    """The issue keys ``key`` may mean, best first. ``2020-39`` / ``2020-W39`` / ``2020-w39``:
    the week; ``2020-09`` is week 9 when that exists, else September (a monthly issue)."""
    canonical = normalize_key(key)
    if canonical is None:
        raise UnknownIssue(key.strip()[:40])
    m = _YEAR_NUMBER.fullmatch(canonical)
    if m is None:
        return [canonical]
    year, number = int(m.group(1)), int(m.group(2))
    if not 1 <= number <= 53:
        raise UnknownIssue(canonical)
    week = f"{year}-W{number:02d}"
    return [week, canonical] if 1 <= number <= 12 else [week]


def _entry(row: repo.EntryRow) -> Entry:
    return Entry(row.headline, row.title, row.url, row.issue, row.pick)


def _view(
    found: repo.IssueRow, picks: list[repo.EntryRow], dripped: list[repo.EntryRow]
) -> WeekView:
    return WeekView(
        key=found.key,
        title=found.title,
        url=found.url,
        picks=[_entry(p) for p in picks],
        dripped=[_entry(d) for d in dripped],
        prev_key=found.prev_key,
        next_key=found.next_key,
        language=found.language,
    )


class BrowseService:
    """``sessions``: synchronous sessions; each use case runs in one worker-thread hop, unless
    its answer is kept. ``version``: the database's change signal (default: from the
    sessions' engine). Answers are shared between callers: never mutate them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        archive: ArchiveService,
        schedule: ScheduleSettings,
        *,
        version: DataVersion | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._archive = archive
        self._zone = ZoneInfo(schedule.timezone)
        if version is None:
            version = data_version(sessions.kw["bind"], ARCHIVE)
        self.version = version  # SubscriberService(quiet_writes=...): settings leave it still
        self.cache: ReadCache[Any] = ReadCache(version, CACHED_ANSWERS)

    async def _read(self, use_case: Callable[[Connection], _T]) -> _T:
        def run() -> _T:
            with self._sessions() as session:
                return use_case(session.connection())

        return await asyncio.to_thread(run)

    async def _kept(self, key: Hashable, use_case: Callable[[Connection], _T]) -> _T:
        """The kept answer for ``key``, else ``use_case`` run (and kept)."""
        found: _T = await self.cache.get(key, lambda: self._read(use_case))
        return found

    async def week(self, key: str | None = None, *, language: str | None = None) -> WeekView:
        """The issue ``key`` (None: the latest weekly issue) with its editor's picks and its
        neighbouring weekly issues; the latest one also lists the papers dripped this week
        (the ISO week containing now in the schedule's time zone). Raises UnknownIssue.
        ``language``: the language to show when the issue exists in it (default: the one
        imported first, as ``show`` does). Three queries."""
        keys = week_candidates(key) if key is not None else None
        period = self.this_week()

        def read(conn: Connection) -> WeekView:
            found = repo.find_issue(conn, keys, language=language)
            if found is None:
                if key is None:
                    raise UnknownIssue("this week")
                raise UnknownIssue(keys[0] if keys else key.strip()[:40])
            picks = repo.issue_picks(conn, found.id, found.key)
            dripped: list[repo.EntryRow] = []
            if found.next_key is None and found.kind == "weekly":
                dripped = repo.dripped(conn, *period)
            return _view(found, picks, dripped)

        kept_as = ("week", None if keys is None else tuple(keys), language, period)
        return await self._kept(kept_as, read)

    async def latest(self, *, language: str | None = None) -> WeekView | None:
        """The newest issue, weekly or monthly (the one covering the latest days), with its
        link and picks; None on an empty archive. Two queries."""

        def read(conn: Connection) -> WeekView | None:
            found = repo.find_issue(conn, None, language=language, kinds=("weekly", "monthly"))
            if found is None:
                return None
            return _view(found, repo.issue_picks(conn, found.id, found.key), [])

        return await self._kept(("latest", language), read)

    async def recent_picks(self, limit: int = 10, *, language: str | None = None) -> list[Entry]:
        """The newest editor's picks across issues (a paper once). One query."""
        bounded = max(1, min(limit, 100))

        def read(conn: Connection) -> list[Entry]:
            return [_entry(r) for r in repo.recent_picks(conn, bounded, language=language)]

        return await self._kept(("picks", bounded, language), read)

    async def search_page(self, query: str, page: int = 1, per_page: int = 5) -> SearchPage:
        """One page of the archive search (pages go past the first 100 results); has_next is
        exact (one more than a page is fetched). Raises QueryTooLong like the search. Pages
        of up to KEPT_PAGE_SIZE hits are kept by (query with its spaces normalised, page,
        per_page): popular queries repeat."""
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        page = max(1, min(page, MAX_PAGE))
        if per_page > KEPT_PAGE_SIZE:  # inline pages (50 hits): Telegram keeps those itself
            return await self._search(query, page, per_page)
        key = ("search", " ".join(query.split()), page, per_page)  # as build_query reads it
        found: SearchPage = await self.cache.get(key, lambda: self._search(query, page, per_page))
        return found

    async def _search(self, query: str, page: int, per_page: int) -> SearchPage:
        result = await self._archive.search(query, limit=per_page + 1, offset=(page - 1) * per_page)
        return SearchPage(
            query=result.query,
            hits=result.hits[:per_page],
            page=page,
            per_page=per_page,
            has_prev=page > 1,
            has_next=len(result.hits) > per_page,
            relaxed=result.relaxed,
        )

    def this_week(self) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) of the ISO week containing now, in UTC."""
        today = self._clock().astimezone(self._zone).date()
        monday = today - timedelta(days=today.weekday())
        start = datetime.combine(monday, datetime.min.time(), tzinfo=self._zone)
        end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=self._zone)
        return start.astimezone(UTC), end.astimezone(UTC)
