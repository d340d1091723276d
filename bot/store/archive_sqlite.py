"""The archive's read queries on SQLite, on a plain ``sqlite3`` connection (no SQLAlchemy).

The app runs them on its sync session's DBAPI connection (``bot.store.archive.session_reads``),
the command line's fast path on a connection of its own (``bot.cli.fast``): one copy of the
SQL for both. Values come back as the ORM would give them (dates, JSON lists, booleans).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from bot.domain.model import (
    IssueKind,
    IssueSummary,
    Language,
    ParsedIssue,
    ParsedItem,
    SearchFilters,
    SearchHit,
    Section,
)

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from bot.domain.search import FtsQuery

_ISSUES = (
    "SELECT s.key, s.kind, s.title, s.url, s.start_date, s.end_date, coalesce(c.n, 0), "
    "coalesce(c.p, 0), json_array_length(s.warnings), s.language FROM issues s "
    "LEFT OUTER JOIN (SELECT issue_id, count(*) AS n, sum(CAST(pick AS INTEGER)) AS p "
    "FROM items GROUP BY issue_id) c ON c.issue_id = s.id "
    "ORDER BY s.start_date DESC, s.kind DESC, s.imported_at, s.id"
)
_ISSUE = (
    "SELECT id, key, kind, year, week, month, title, url, start_date, end_date, picks, "
    "warnings, neighbours, language FROM issues WHERE key = :key{language} "
    "ORDER BY imported_at, id LIMIT 1"
)
_ITEMS = (
    "SELECT i.position, i.section, i.headline, i.title, i.url, p.identity, i.summary, "
    "i.images, i.pick FROM items i LEFT OUTER JOIN papers p ON p.id = i.paper_id "
    "WHERE i.issue_id = :issue ORDER BY i.position"
)
_LANGUAGES = "SELECT language FROM issues WHERE key = :key ORDER BY imported_at, id"


class SqliteReads:
    """``bot.services.archive_reads.ArchiveReads`` on one sqlite3 connection. ``cache``
    lives as long as the connection (see ``bot.store.search_sqlite``)."""

    def __init__(self, conn: sqlite3.Connection, cache: MutableMapping[str, Any]) -> None:
        self._conn = conn
        self._cache = cache

    def issues(self) -> list[IssueSummary]:
        return [
            IssueSummary(
                key=key,
                kind=cast(IssueKind, kind),
                title=title,
                url=url,
                start=date.fromisoformat(start),
                end=date.fromisoformat(end),
                items=int(items),
                picks=int(picks),
                warnings=int(warnings),
                language=cast(Language, language),
            )
            for key, kind, title, url, start, end, items, picks, warnings, language in (
                self._conn.execute(_ISSUES)
            )
        ]

    def issue(self, key: str, language: str | None) -> ParsedIssue | None:
        params = {"key": key, "language": language}
        sql = _ISSUE.format(language="" if language is None else " AND language = :language")
        row = self._conn.execute(sql, params).fetchone()
        if row is None:
            return None
        (issue_id, key, kind, year, week, month, title, url, start, end) = row[:10]
        picks, warnings, neighbours, language = row[10:]
        items = tuple(
            ParsedItem(
                position=position,
                section=cast(Section, section),
                headline=headline,
                title=item_title,
                url=item_url,
                paper=paper,
                summary=summary,
                images=tuple(json.loads(images)),
                pick=bool(pick),
            )
            for position, section, headline, item_title, item_url, paper, summary, images, pick in (
                self._conn.execute(_ITEMS, {"issue": issue_id})
            )
        )
        return ParsedIssue(
            key=key,
            kind=cast(IssueKind, kind),
            year=year,
            week=week,
            month=month,
            title=title,
            url=url,
            start=date.fromisoformat(start),
            end=date.fromisoformat(end),
            items=items,
            picks=tuple(json.loads(picks)),
            warnings=tuple(json.loads(warnings)),
            neighbours=tuple(json.loads(neighbours)),
            language=cast(Language, language),
        )

    def languages(self, key: str) -> list[Language]:
        rows = self._conn.execute(_LANGUAGES, {"key": key})
        return [cast(Language, language) for (language,) in rows]

    def search(
        self,
        query: FtsQuery,
        filters: SearchFilters,
        limit: int,
        *,
        any_term: bool = False,
        offset: int = 0,
    ) -> list[SearchHit]:
        from bot.store import search_sqlite  # the stemmer and highlighter: only to search

        return search_sqlite.search_items(
            self._conn, self._cache, query, filters, limit, any_term=any_term, offset=offset
        )
