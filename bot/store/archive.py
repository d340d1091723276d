"""Archive repository: issues, items, papers and the search indexes. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, delete, func, insert, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.domain.model import (
    IssueKind,
    IssueSummary,
    ParsedIssue,
    ParsedItem,
    SearchFilters,
    SearchHit,
    Section,
)
from bot.domain.search import FtsQuery, make_snippet, short_index_text
from bot.store.models import Issue, Item, Paper


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


UpsertOutcome = Literal["added", "updated", "unchanged"]


async def upsert_issue(
    session: AsyncSession, parsed: ParsedIssue, *, source: str | None, digest: str, now: datetime
) -> UpsertOutcome:
    """Insert the issue or replace its contents in place (same key, same row)."""
    issue = await session.scalar(select(Issue).where(Issue.key == parsed.key))
    if issue is not None and issue.content_hash == digest:
        return "unchanged"
    outcome: UpsertOutcome = "added" if issue is None else "updated"
    if issue is None:
        issue = Issue(key=parsed.key, imported_at=now)
        session.add(issue)
    else:
        await session.execute(delete(Item).where(Item.issue_id == issue.id))
    _fill_issue(issue, parsed, source=source, digest=digest, now=now)
    await session.flush()
    papers = await _paper_ids(session, parsed.items, now)
    rows = [_item_row(issue.id, item, papers) for item in parsed.items]
    if rows:
        ids = (await session.scalars(insert(Item).returning(Item.id), rows)).all()
        await _index_short(session, ids, parsed.items)
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


async def _paper_ids(
    session: AsyncSession, items: tuple[ParsedItem, ...], now: datetime
) -> dict[str, int]:
    wanted = {item.paper: item for item in items if item.paper and item.url}
    if not wanted:
        return {}
    found = dict(
        (
            await session.execute(
                select(Paper.identity, Paper.id).where(Paper.identity.in_(wanted))
            )
        ).all()
    )
    for identity, item in wanted.items():
        if identity not in found:
            paper = Paper(identity=identity, url=item.url, title=item.title, first_seen_at=now)
            session.add(paper)
            await session.flush()
            found[identity] = paper.id
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


async def _index_short(
    session: AsyncSession, ids: list[int] | tuple[int, ...] | object, items: tuple[ParsedItem, ...]
) -> None:
    if dialect_name(session) != "sqlite":
        return
    rows = [
        {"rowid": item_id, "body": short_index_text(it.headline, it.title, it.summary)}
        for item_id, it in zip(cast(list[int], ids), items, strict=True)
    ]
    await session.execute(text("INSERT INTO items_short(rowid, body) VALUES (:rowid, :body)"), rows)


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
        .order_by(Issue.start_date.desc(), Issue.kind.desc())
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
        )
        for issue, n, p in rows
    ]


async def load_issue(session: AsyncSession, key: str) -> ParsedIssue | None:
    issue = await session.scalar(
        select(Issue)
        .where(Issue.key == key)
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
    )


async def search_items(
    session: AsyncSession, query: FtsQuery, filters: SearchFilters, limit: int
) -> list[SearchHit]:
    """Best matches first. The one place that knows how each database searches."""
    if query.mode == "empty":
        return []
    sqlite = dialect_name(session) == "sqlite"
    order: ColumnElement[Any]
    if sqlite:
        table = "items_fts" if query.mode == "trigram" else "items_short"
        rank = (
            "bm25(items_fts, 4.0, 3.0, 1.0, 0.5)" if table == "items_fts" else "bm25(items_short)"
        )
        matched = (
            select(
                literal_column(f"{table}.rowid").label("item_id"),
                literal_column(rank).label("score"),
            )
            .select_from(text(table))
            .where(text(f"{table} MATCH :match"))
            .subquery()
        )
        order = matched.c.score
        stmt = select(Item, Issue.key, Paper.identity).join(matched, matched.c.item_id == Item.id)
    else:
        like = [f"%{t}%" for t in query.terms]
        cond = [
            (Item.headline.ilike(p) | Item.title.ilike(p) | Item.summary.ilike(p)) for p in like
        ]
        stmt = select(Item, Issue.key, Paper.identity).where(*cond)
        order = Item.headline.ilike(like[0]).desc()
    stmt = stmt.join(Issue, Issue.id == Item.issue_id).outerjoin(Paper, Paper.id == Item.paper_id)
    if filters.section:
        stmt = stmt.where(Item.section == filters.section)
    if filters.picks_only:
        stmt = stmt.where(Item.pick.is_(True))
    if filters.year is not None:
        stmt = stmt.where(Issue.year == filters.year)
    stmt = stmt.order_by(order, Issue.start_date.desc(), Item.position).limit(limit)
    params = {"match": query.match} if sqlite else {}
    rows = (await session.execute(stmt, params)).all()
    return [_hit(item, key, paper, query) for item, key, paper in rows]


def _hit(item: Item, key: str, paper: str | None, query: FtsQuery) -> SearchHit:
    source = item.summary or item.title or item.headline
    for field in (item.headline, item.title or "", item.summary):
        if make_snippet(field, query.terms, 10**6) != field:
            source = field if field is not item.headline else source
            break
    return SearchHit(
        issue=key,
        section=cast(Section, item.section),
        headline=item.headline,
        title=item.title,
        url=item.url,
        paper=paper,
        snippet=make_snippet(source, query.terms),
        pick=item.pick,
    )
