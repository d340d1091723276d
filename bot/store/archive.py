"""Archive repository: issues, items, papers and the search indexes. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
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
from bot.domain.search import FtsQuery, Highlighter, short_index_text, stem_forms
from bot.store.models import Issue, Item, Paper, Post

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
    if session.get_bind().dialect.name != "sqlite":
        return
    rows = [
        {
            "rowid": item_id,
            "headline": short_index_text(it.headline),
            "title": short_index_text(it.title),
            "summary": short_index_text(it.summary),
            "url": short_index_text(it.url),
        }
        for item_id, it in zip(ids, items, strict=True)
    ]
    session.execute(
        text(
            "INSERT INTO items_short(rowid, headline, title, summary, url) "
            "VALUES (:rowid, :headline, :title, :summary, :url)"
        ),
        rows,
    )


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


async def list_issues(session: AsyncSession) -> list[IssueSummary]:
    counts = (
        select(
            Item.issue_id,
            func.count().label("n"),
            func.sum(func.cast(Item.pick, type_=func.count().type)).label("p"),
        )
        .group_by(Item.issue_id)
        .subquery()
    )
    rows = await session.execute(
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


async def issue_languages(session: AsyncSession, key: str) -> list[Language]:
    """Languages of the issue ``key``, first imported first."""
    rows = await session.scalars(
        select(Issue.language).where(Issue.key == key).order_by(Issue.imported_at, Issue.id)
    )
    return [cast(Language, language) for language in rows]


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


async def load_issue(
    session: AsyncSession, key: str, language: str | None = None
) -> ParsedIssue | None:
    """The issue ``key`` in ``language``; without one, the language imported first."""
    stmt = select(Issue).where(Issue.key == key)
    if language is not None:
        stmt = stmt.where(Issue.language == language)
    issue = await session.scalar(
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


RANK_CANDIDATES = 500  # very common terms: rank the newest 500 matches, not all of them
VOCABULARY = "temp.items_short_vocab"  # the word index's words (fts5vocab, per connection)
VOCABULARY_SCAN = 2000  # words read from one stem's prefix on, at most
VOCABULARY_CACHE = 1000  # query words whose stem forms one connection remembers


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
    place that knows how each database searches. ``offset`` skips that many of the best
    (pages: the ranking of the first ``offset + limit`` is cut, so pages never overlap).

    Synchronous like ``upsert_issue``: the service runs it in a worker thread on the sync
    engine (one hop instead of a thread round trip per statement)."""
    if query.mode == "empty":
        return []
    if session.get_bind().dialect.name == "sqlite":
        forms = index_stem_forms(session, query)
        ranked = _fts_ranked_ids(session, query, forms, filters, offset + limit, any_term)
        marked = [f for found in forms.values() for f in found]
    else:
        ranked = _like_ranked_ids(session, query, filters, offset + limit, any_term)
        marked = [t for alternatives in query.contains for t in alternatives[1:]]
    ranked = ranked[offset:]
    if not ranked:
        return []
    rows = session.execute(
        select(
            Item.id,
            Item.section,
            Item.headline,
            Item.title,
            Item.url,
            Item.summary,
            Item.pick,
            Issue.key,
            Paper.identity,
        )
        .join(Issue, Issue.id == Item.issue_id)
        .outerjoin(Paper, Paper.id == Item.paper_id)
        .where(Item.id.in_(ranked))
    )
    by_id = {row.id: row for row in rows}
    marker = Highlighter((*query.terms, *marked))
    return [
        SearchHit(
            issue=row.key,
            section=cast(Section, row.section),
            headline=row.headline,
            title=row.title,
            url=row.url,
            paper=row.identity,
            snippet=marker.best_snippet(row.summary, row.title, row.headline),
            pick=row.pick,
        )
        for row in (by_id[i] for i in ranked if i in by_id)
    ]


def _filter_sql(filters: SearchFilters) -> tuple[str, str, dict[str, object]]:
    joins = " JOIN items i ON i.id = f.rowid"
    where: list[str] = []
    params: dict[str, object] = {}
    if filters.section:
        where.append("i.section = :section")
        params["section"] = filters.section
    if filters.picks_only:
        where.append("i.pick = 1")
    if filters.year is not None:
        joins += " JOIN issues s ON s.id = i.issue_id"
        where.append("s.year = :year")
        params["year"] = filters.year
    return joins, "".join(f" AND {w}" for w in where), params


def index_stem_forms(session: Session, query: FtsQuery) -> dict[str, tuple[str, ...]]:
    """query word -> the index's other words of its stem (pruned -> pruning), read from the
    word index's vocabulary in the stem's prefix range (no table scan) and remembered by the
    connection until the database changes."""
    if not query.stems:
        return {}
    conn = session.connection()
    known = _vocabulary_cache(conn)
    sql = text(f"SELECT term FROM {VOCABULARY} WHERE term >= :low AND term < :high LIMIT :n")
    found: dict[str, tuple[str, ...]] = {}
    for word in query.stems:
        if word.word not in known:
            vocabulary: list[str] = []
            for low, high in word.ranges:
                params = {"low": low, "high": high, "n": VOCABULARY_SCAN}
                vocabulary += conn.execute(sql, params).scalars()
            known[word.word] = stem_forms(word, vocabulary)
        if forms := known[word.word]:
            found[word.word] = forms
    return found


def _vocabulary_cache(conn: Connection) -> dict[str, tuple[str, ...]]:
    """The stem forms this DBAPI connection has read, emptied whenever the database changed:
    ``data_version`` moves with other connections' commits, ``total_changes()`` with this
    one's. Reading a common word's range costs milliseconds; this check, microseconds."""
    info = conn.info  # lives as long as the pooled DBAPI connection
    if _SEEN not in info:
        vocabulary = f"{VOCABULARY} USING fts5vocab(main, items_short, row)"
        conn.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {vocabulary}"))
    version = tuple(
        conn.execute(text("SELECT total_changes(), data_version FROM pragma_data_version")).one()
    )
    if info.get(_SEEN) != version or len(info[_FORMS]) > VOCABULARY_CACHE:
        info[_SEEN], info[_FORMS] = version, {}
    forms: dict[str, tuple[str, ...]] = info[_FORMS]
    return forms


_SEEN = "digestbot.search.vocabulary_version"  # keys in Connection.info
_FORMS = "digestbot.search.stem_forms"


def _fts_ranked_ids(
    session: Session,
    query: FtsQuery,
    forms: dict[str, tuple[str, ...]],
    filters: SearchFilters,
    limit: int,
    any_term: bool,
) -> list[int]:
    """The word index first; the trigram index only tops up with in-word substring matches."""
    words = query.word_match(forms, any_term=any_term)
    ranked = _fts_top(session, "items_short", words, filters, limit)
    trigram = query.trigram_match(any_term=any_term)
    if len(ranked) < limit and trigram:
        more = _fts_top(session, "items_fts", trigram, filters, limit)
        ranked += [i for i in more if i not in ranked][: limit - len(ranked)]
    return ranked


def _fts_top(
    session: Session, table: str, match: str, filters: SearchFilters, limit: int
) -> list[int]:
    """bm25 over a bounded set of the newest matches (ids and scores only); the caller then
    loads just the top rows. Column weights: headline 4, title 3, summary 1, link 0.5."""
    joins, where, params = _filter_sql(filters) if _has_filters(filters) else ("", "", {})
    sql = (
        f"SELECT item_id FROM (SELECT f.rowid AS item_id, bm25({table}, 4.0, 3.0, 1.0, 0.5) "
        f"AS score FROM {table} f{joins} WHERE {table} MATCH :match{where} "
        "ORDER BY f.rowid DESC LIMIT :cap) ORDER BY score, item_id DESC LIMIT :limit"
    )
    params |= {"match": match, "cap": RANK_CANDIDATES, "limit": limit}
    return list(session.scalars(text(sql), params).all())


def _has_filters(filters: SearchFilters) -> bool:
    return bool(filters.section or filters.picks_only or filters.year is not None)


def _like_contains(texts: tuple[str, ...], *, headline_only: bool = False) -> ColumnElement[bool]:
    """Any of ``texts`` inside any searched column, case-insensitive; LIKE wildcards (% _ and
    the escape character) in the user's text are escaped, so they match as text."""
    columns = (
        (Item.headline,) if headline_only else (Item.headline, Item.title, Item.summary, Item.url)
    )
    return or_(*(c.icontains(t, autoescape=True) for t in texts for c in columns))


def _like_ranked_ids(
    session: Session, query: FtsQuery, filters: SearchFilters, limit: int, any_term: bool
) -> list[int]:
    """PostgreSQL (and any non-SQLite database): case-insensitive substring matching of each
    term or the stem its other forms share (pruned: prun); items with more terms rank first."""
    terms = [_like_contains(texts) for texts in query.contains]
    stmt = (
        select(Item.id)
        .join(Issue, Issue.id == Item.issue_id)
        .where(or_(*terms) if any_term else and_(*terms))
    )
    if filters.section:
        stmt = stmt.where(Item.section == filters.section)
    if filters.picks_only:
        stmt = stmt.where(Item.pick.is_(True))
    if filters.year is not None:
        stmt = stmt.where(Issue.year == filters.year)
    if any_term:
        found = [case((t, 1), else_=0) for t in terms]
        stmt = stmt.order_by(sum(found[1:], found[0]).desc())  # items with more terms first
    headline_first = _like_contains(query.contains[0], headline_only=True).desc()
    stmt = stmt.order_by(headline_first, Issue.start_date.desc(), Item.position).limit(limit)
    return list(session.scalars(stmt).all())
