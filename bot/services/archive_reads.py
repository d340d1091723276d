"""The archive's read use cases (list, show, search), on any backend's queries.

SQLAlchemy-free on purpose: ``ArchiveService`` runs them on a session's queries
(``bot.store.archive.session_reads``), the command line's fast path on a plain ``sqlite3``
connection's (``bot.store.archive_sqlite.SqliteReads``). The rules live here once: key
spelling, which language by default, the unknown-issue message, the search's bounds and its
fall-back to any word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.domain.keys import normalize_key
from bot.domain.model import IssueSummary, Language, ParsedIssue, SearchFilters, SearchHit
from bot.errors import DigestbotError

if TYPE_CHECKING:
    from bot.config import SearchSettings
    from bot.domain.search import FtsQuery


class UnknownIssue(DigestbotError, LookupError):
    def __init__(self, key: str, language: str | None = None, have: Sequence[str] = ()) -> None:
        if language and have:
            message = f"no issue {key!r} in {language!r}: it exists in {', '.join(have)}"
        else:
            message = f"no issue {key!r} in the archive (see `digestbot issues`)"
        super().__init__(message)
        self.key = key


class AmbiguousIssue(DigestbotError, LookupError):
    def __init__(self, key: str, languages: Sequence[str]) -> None:
        options = " or ".join(f"--lang {language}" for language in languages)
        super().__init__(f"{key} exists in {', '.join(languages)}: add {options}", code=2)


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    relaxed: bool = False  # no item has every word: these hits have at least one of them


class ArchiveReads(Protocol):
    """The queries behind the read use cases, answered by one database connection."""

    def issues(self) -> list[IssueSummary]:
        """Every issue, newest first."""
        ...

    def issue(self, key: str, language: str | None) -> ParsedIssue | None:
        """The issue ``key`` in ``language``; without one, the language imported first."""
        ...

    def languages(self, key: str) -> list[Language]:
        """Languages of the issue ``key``, first imported first."""
        ...

    def search(
        self,
        query: FtsQuery,
        filters: SearchFilters,
        limit: int,
        *,
        any_term: bool = False,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Best matches first (see ``bot.store.archive.search_items``)."""
        ...




def find_issue(reads: ArchiveReads, key: str, language: str | None = None) -> ParsedIssue:
    """The issue ``key`` (any spelling: ``2020-w39``) in ``language``, by default in the
    language imported first. Raises UnknownIssue."""
    canonical = normalize_key(key)
    if canonical is None:
        raise UnknownIssue(key.strip())
    found = reads.issue(canonical, language)
    if found is None:
        raise UnknownIssue(canonical, language, reads.languages(canonical))
    return found


def issue_languages(reads: ArchiveReads, key: str) -> list[Language]:
    """The languages the issue ``key`` exists in, first imported first."""
    canonical = normalize_key(key)
    return [] if canonical is None else reads.languages(canonical)


def plan_search(
    text: str, settings: SearchSettings, limit: int | None = None
) -> tuple[FtsQuery, int]:
    """The query (raises QueryTooLong) and how many results to return (1..100)."""
    from bot.domain.search import build_query  # the stemmer: only when searching

    return build_query(text, settings.max_query_chars), max(
        1, min(limit or settings.default_limit, 100)
    )


def run_search(
    reads: ArchiveReads, query: FtsQuery, filters: SearchFilters, limit: int, offset: int = 0
) -> tuple[list[SearchHit], bool]:
    """Items with every word; when none has them all, the best items with any of them
    (relaxed: True). ``offset``: skip that many of the best (paging)."""
    offset = max(0, offset)
    hits = reads.search(query, filters, limit, offset=offset)
    if hits or len(query.terms) < 2:
        return hits, False
    if offset and reads.search(query, filters, 1):
        return [], False  # past the last page of items with every word
    hits = reads.search(query, filters, limit, any_term=True, offset=offset)
    return hits, bool(hits)


def search(
    reads: ArchiveReads,
    settings: SearchSettings,
    text: str,
    *,
    limit: int | None = None,
    filters: SearchFilters | None = None,
    offset: int = 0,
) -> SearchResult:
    """``plan_search`` then ``run_search``, in one go (a caller with no thread to hop to)."""
    query, bounded = plan_search(text, settings, limit)
    hits, relaxed = run_search(reads, query, filters or SearchFilters(), bounded, offset)
    return SearchResult(query.text, hits, relaxed)
