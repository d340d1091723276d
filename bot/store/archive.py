"""Archive repository: issues, items, papers and the search indexes. Never commits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Literal, cast

from sqlalchemy import (
    Select,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

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
from bot.domain.search import FtsQuery, Highlighter, short_index_text
from bot.store import search_pg, search_rank, search_sqlite
from bot.store.archive_sqlite import SqliteReads
from bot.store.models import Issue, Item, Paper, Post

if TYPE_CHECKING:
    from bot.services.archive_reads import ArchiveReads

UpsertOutcome = Literal["added", "updated", "unchanged"]


def upsert_issue(
    session: Session, /, parsed: ParsedIssue, *, source: str | None, digest: str, now: datetime
) -> UpsertOutcome:
    """Insert the issue or replace its contents in place (same key and language, same row).

    Synchronous on purpose: bulk imports run it on a sync engine in a worker thread (no
    per-statement thread hops); async callers use ``await session.run_sync(upsert_issue, ...)``.
    """
    issue = session.scalar(
        select(Issue).where(Issue.key == parsed.key, Issue.language == parsed.language)
    )
    if issue is not None and issue.content_hash == digest:
        return "unchanged"
    outcome: UpsertOutcome = "added" if issue is None else "updated"
    if issue is None:
        issue = Issue(key=parsed.key, language=parsed.language, imported_at=now)
        session.add(issue)
    else:
        _forget_short(session, [issue.id])
        session.execute(delete(Item).where(Item.issue_id == issue.id))
    _fill_issue(issue, parsed, source=source, digest=digest, now=now)
    session.flush()
    papers = _paper_ids(session, parsed.items, now)
    rows = [_item_row(issue.id, item, papers) for item in parsed.items]
    if rows:
        session.execute(insert(Item), rows)  # one executemany, no per-row round trips
        ids = session.execute(select(Item.position, Item.id).where(Item.issue_id == issue.id))
        by_position = dict(ids.all())
        _index_short(session, [by_position[it.position] for it in parsed.items], parsed.items)
    return outcome


def _fill_issue(
    issue: Issue, parsed: ParsedIssue, *, source: str | None, digest: str, now: datetime
) -> None:
    issue.kind = parsed.kind
    issue.year, issue.week, issue.month = parsed.year, parsed.week, parsed.month
    issue.title, issue.url = parsed.title, parsed.url
    issue.start_date, issue.end_date = parsed.start, parsed.end
    issue.picks = list(parsed.picks)
    issue.warnings = list(parsed.warnings)
    issue.neighbours = list(parsed.neighbours)
    issue.source, issue.content_hash, issue.updated_at = source, digest, now


def _paper_ids(session: Session, items: tuple[ParsedItem, ...], now: datetime) -> dict[str, int]:
    wanted = {item.paper: item for item in items if item.paper and item.url}
    if not wanted:
        return {}
    found = dict(
        session.execute(select(Paper.identity, Paper.id).where(Paper.identity.in_(wanted))).all()
    )
    missing = [
        {"identity": identity, "url": item.url, "title": item.title, "first_seen_at": now}
        for identity, item in wanted.items()
        if identity not in found
    ]
    if missing:
        rows = session.execute(insert(Paper).returning(Paper.identity, Paper.id), missing)
        found.update({identity: paper_id for identity, paper_id in rows})
    return found


def _item_row(issue_id: int, item: ParsedItem, papers: dict[str, int]) -> dict[str, object]:
    return {
        "issue_id": issue_id,
        "position": item.position,
        "section": item.section,
        "headline": item.headline,
        "title": item.title,
        "url": item.url,
        "paper_id": papers.get(item.paper) if item.paper else None,
        "summary": item.summary,
        "images": list(item.images),
        "pick": item.pick,
    }


def _index_short(session: Session, ids: list[int], items: tuple[ParsedItem, ...]) -> None:
    if session.get_bind().dialect.name == "postgresql":  # its rows go with the items (cascade)
        pg_rows = [
            (item_id, it.headline, it.title, it.summary, it.url)
            for item_id, it in zip(ids, items, strict=True)
        ]
        search_pg.index_items(session, pg_rows)
        return
    if session.get_bind().dialect.name != "sqlite":
        return
    texts = [
        (item_id, tuple(short_index_text(f) for f in (it.headline, it.title, it.summary, it.url)))
        for item_id, it in zip(ids, items, strict=True)
    ]
    rows = [
        {"rowid": item_id, "headline": h, "title": t, "summary": s, "url": u}
        for item_id, (h, t, s, u) in texts
    ]
    session.execute(
        text(
            "INSERT INTO items_short(rowid, headline, title, summary, url) "
            "VALUES (:rowid, :headline, :title, :summary, :url)"
        ),
        rows,
    )
    with _dbapi_cursor(session) as cur:  # the word counts and impact lists of the new rows
        search_rank.add_items(cur, texts)


def _forget_short(session: Session, issue_ids: Sequence[int]) -> None:
    """Before the items of ``issue_ids`` are deleted: take their word-index rows out of the
    word counts (SQLite; their impact-list rows go with them, by trigger)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    ids = list(session.scalars(select(Item.id).where(Item.issue_id.in_(issue_ids))))
    with _dbapi_cursor(session) as cur:
        search_rank.remove_items(cur, ids)


@contextmanager
def _dbapi_cursor(session: Session) -> Iterator[search_rank.Cursor]:
    """A cursor of the session's own DBAPI connection (same transaction)."""
    cur = cast(search_rank.Cursor, session.connection().connection.cursor())
    try:
        yield cur
    finally:
        cur.close()


async def keys_with_content(
    session: AsyncSession, digests: set[str]
) -> dict[str, tuple[str, Language]]:
    """content hash -> (key, language) of the issue imported from exactly that text."""
    if not digests:
        return {}
    rows = await session.execute(
        select(Issue.content_hash, Issue.key, Issue.language).where(Issue.content_hash.in_(digests))
    )
    return {digest: (key, cast(Language, language)) for digest, key, language in rows}


def list_issues(session: Session) -> list[IssueSummary]:
    counts = (
        select(
            Item.issue_id,
            func.count().label("n"),
            func.sum(func.cast(Item.pick, type_=func.count().type)).label("p"),
        )
        .group_by(Item.issue_id)
        .subquery()
    )
    rows = session.execute(
        select(Issue, counts.c.n, counts.c.p)
        .outerjoin(counts, counts.c.issue_id == Issue.id)
        .order_by(Issue.start_date.desc(), Issue.kind.desc(), Issue.imported_at, Issue.id)
    )
    return [
        IssueSummary(
            key=issue.key,
            kind=cast(IssueKind, issue.kind),
            title=issue.title,
            url=issue.url,
            start=issue.start_date,
            end=issue.end_date,
            items=int(n or 0),
            picks=int(p or 0),
            warnings=len(issue.warnings),
            language=cast(Language, issue.language),
        )
        for issue, n, p in rows
    ]


def _languages(key: str) -> Select[str]:
    return select(Issue.language).where(Issue.key == key).order_by(Issue.imported_at, Issue.id)


async def issue_languages(session: AsyncSession, key: str) -> list[Language]:
    """Languages of the issue ``key``, first imported first."""
    return [cast(Language, language) for language in await session.scalars(_languages(key))]


async def issue_ids(session: AsyncSession, key: str, language: str | None) -> list[int]:
    """Ids of the issue ``key`` (in one language, or in all), first imported first."""
    stmt = select(Issue.id).where(Issue.key == key).order_by(Issue.imported_at, Issue.id)
    if language is not None:
        stmt = stmt.where(Issue.language == language)
    return list(await session.scalars(stmt))


async def remove_issues(
    session: AsyncSession, ids: Sequence[int], now: datetime
) -> tuple[int, int, int]:
    """Delete issues with their items (the triggers drop their search rows), cancel their
    queued posts (sent ones stay in the ledger, detached) and drop the papers that no item
    or post refers to any more. Returns (items, cancelled posts, papers) removed."""
    of_issues = select(Item.id).where(Item.issue_id.in_(ids))
    cancelled = await session.execute(
        update(Post)
        .where(Post.state == "queued", or_(Post.issue_id.in_(ids), Post.item_id.in_(of_issues)))
        .values(state="cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    papers = set(
        await session.scalars(
            select(Item.paper_id).where(Item.issue_id.in_(ids), Item.paper_id.is_not(None))
        )
    )
    await session.run_sync(_forget_short, ids)
    items = await session.execute(
        delete(Item).where(Item.issue_id.in_(ids)).execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Issue).where(Issue.id.in_(ids)).execution_options(synchronize_session=False)
    )
    orphans = await session.execute(
        delete(Paper)
        .where(
            Paper.id.in_(papers),
            ~exists().where(Item.paper_id == Paper.id),
            ~exists().where(Post.paper_id == Paper.id),
        )
        .execution_options(synchronize_session=False)
    )
    return (
        int(items.rowcount),  # type: ignore[attr-defined]
        int(cancelled.rowcount),  # type: ignore[attr-defined]
        int(orphans.rowcount),  # type: ignore[attr-defined]
    )


def load_issue(session: Session, key: str, language: str | None = None) -> ParsedIssue | None:
    """The issue ``key`` in ``language``; without one, the language imported first."""
    stmt = select(Issue).where(Issue.key == key)
    if language is not None:
        stmt = stmt.where(Issue.language == language)
    issue = session.scalar(
        stmt.order_by(Issue.imported_at, Issue.id)
        .limit(1)
        .options(selectinload(Issue.items).selectinload(Item.paper))
    )
    if issue is None:
        return None
    items = tuple(
        ParsedItem(
            position=it.position,
            section=cast(Section, it.section),
            headline=it.headline,
            title=it.title,
            url=it.url,
            paper=it.paper.identity if it.paper else None,
            summary=it.summary,
            images=tuple(it.images),
            pick=it.pick,
        )
        for it in issue.items
    )
    return ParsedIssue(
        key=issue.key,
        kind=cast(IssueKind, issue.kind),
        year=issue.year,
        week=issue.week,
        month=issue.month,
        title=issue.title,
        url=issue.url,
        start=issue.start_date,
        end=issue.end_date,
        items=items,
        picks=tuple(issue.picks),
        warnings=tuple(issue.warnings),
        neighbours=tuple(issue.neighbours),
        language=cast(Language, issue.language),
    )


class OrmReads:
    """``bot.services.archive_reads.ArchiveReads`` through the ORM (PostgreSQL)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def issues(self) -> list[IssueSummary]:
        return list_issues(self._session)

    def issue(self, key: str, language: str | None) -> ParsedIssue | None:
        return load_issue(self._session, key, language)

    def languages(self, key: str) -> list[Language]:
        return [cast(Language, language) for language in self._session.scalars(_languages(key))]

    def search(
        self,
        query: FtsQuery,
        filters: SearchFilters,
        limit: int,
        *,
        any_term: bool = False,
        offset: int = 0,
    ) -> list[SearchHit]:
        return search_items(self._session, query, filters, limit, any_term=any_term, offset=offset)


def session_reads(session: Session) -> ArchiveReads:
    """The read queries on a sync session: SQLite's own SQL (``bot.store.archive_sqlite``, the
    one copy the command line's fast path runs too) on its DBAPI connection, else the ORM."""
    if session.get_bind().dialect.name != "sqlite":
        return OrmReads(session)
    conn = session.connection()
    raw = cast(sqlite3.Connection, conn.connection.driver_connection)
    return SqliteReads(raw, conn.info)


def search_items(
    session: Session,
    query: FtsQuery,
    filters: SearchFilters,
    limit: int,
    *,
    any_term: bool = False,
    offset: int = 0,
) -> list[SearchHit]:
    """Best matches first: items with every term, or with ``any_term`` at least one. The one
    place that knows how each database searches (SQLite: ``bot.store.search_sqlite``, on this
    session's DBAPI connection). ``offset`` skips that many of the best (pages: the ranking
    of the first ``offset + limit`` is cut, so pages never overlap).

    Synchronous like ``upsert_issue``: the service runs it in a worker thread on the sync
    engine (one hop instead of a thread round trip per statement)."""
    if query.mode == "empty":
        return []
    if session.get_bind().dialect.name == "sqlite":
        conn = session.connection()
        raw = cast(sqlite3.Connection, conn.connection.driver_connection)
        return search_sqlite.search_items(
            raw, conn.info, query, filters, limit, any_term=any_term, offset=offset
        )
    forms = search_pg.stem_vocabulary(session, query)
    ranked = search_pg.ranked_ids(session, query, forms, filters, offset + limit, any_term)
    ranked = ranked[offset:]
    if not ranked:
        return []
    rows = search_pg.hit_rows(session, ranked)
    marked = [f for found in forms.values() for f in found]
    marker = Highlighter((*query.terms, *marked))
    return search_sqlite.hits_in_order(cast("list[search_sqlite.Row]", rows), ranked, marker)
