"""Browsing the archive (SELECTs only): one issue with its neighbours, its picks, the papers
dripped in a period, recent picks. Never commits; one statement per function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.store.models import Delivery, Issue, Item, Post

#: a post counts for a week when a delivery was sent in it; its slot is at most this much older
SEND_DELAY_MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class IssueRow:
    id: int
    key: str
    kind: str
    language: str
    title: str
    url: str | None
    prev_key: str | None  # the neighbouring issues of the same kind in the archive
    next_key: str | None


@dataclass(frozen=True, slots=True)
class EntryRow:
    headline: str
    title: str | None
    url: str | None
    issue: str
    pick: bool


def _preferred_language(language: str | None) -> list[Any]:
    """Order by: the wanted language first (when given), then the first imported."""
    order: list[Any] = []
    if language is not None:
        order.append(case((Issue.language == language, 0), else_=1))
    return [*order, Issue.imported_at, Issue.id]


def _with_neighbours(stmt: Select[Any]) -> Select[Any]:
    other = aliased(Issue)
    before = (
        select(other.key)
        .where(other.kind == Issue.kind, other.start_date < Issue.start_date)
        .order_by(other.start_date.desc(), other.id)
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )
    after = (
        select(other.key)
        .where(other.kind == Issue.kind, other.start_date > Issue.start_date)
        .order_by(other.start_date, other.id)
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )
    return stmt.with_only_columns(
        Issue.id,
        Issue.key,
        Issue.kind,
        Issue.language,
        Issue.title,
        Issue.url,
        before.label("prev_key"),
        after.label("next_key"),
    )


async def find_issue(
    session: AsyncSession,
    keys: Sequence[str] | None,
    *,
    language: str | None = None,
    kinds: Sequence[str] = ("weekly",),
) -> IssueRow | None:
    """The first of ``keys`` that exists (None: the newest issue of ``kinds``), in ``language``
    when it exists in it, else in the language imported first; with its neighbours' keys."""
    stmt = select(Issue)
    if keys is None:
        stmt = stmt.where(Issue.kind.in_(kinds)).order_by(
            Issue.end_date.desc(), Issue.start_date.desc()
        )
    else:
        if not keys:
            return None
        rank = case({key: i for i, key in enumerate(keys)}, value=Issue.key)
        stmt = stmt.where(Issue.key.in_(keys)).order_by(rank)
    stmt = stmt.order_by(*_preferred_language(language)).limit(1)
    row = (await session.execute(_with_neighbours(stmt))).first()
    if row is None:
        return None
    issue_id, key, kind, lang, title, url, prev_key, next_key = row
    return IssueRow(issue_id, key, kind, lang, title, url, prev_key, next_key)


async def issue_picks(session: AsyncSession, issue_id: int, key: str) -> list[EntryRow]:
    rows = await session.execute(
        select(Item.headline, Item.title, Item.url)
        .where(Item.issue_id == issue_id, Item.pick.is_(True))
        .order_by(Item.position)
    )
    return [EntryRow(headline, title, url, key, True) for headline, title, url in rows]


async def dripped(session: AsyncSession, since: datetime, until: datetime) -> list[EntryRow]:
    """Paper posts sent (state sent, a delivery sent in [since, until)), in slot order. Only
    posts slotted in the period (or up to SEND_DELAY_MARGIN before it) are probed."""
    sent_in_period = exists().where(
        Delivery.post_id == Post.id,
        Delivery.state == "sent",
        Delivery.sent_at >= since,
        Delivery.sent_at < until,
    )
    rows = await session.execute(
        select(Post.text, Post.title, Post.url, Issue.key, func.coalesce(Item.pick, literal(False)))
        .outerjoin(Issue, Issue.id == Post.issue_id)
        .outerjoin(Item, Item.id == Post.item_id)
        .where(
            Post.kind == "paper",
            Post.state == "sent",
            Post.slot >= since - SEND_DELAY_MARGIN,
            Post.slot < until,
            sent_in_period,
        )
        .order_by(Post.slot, Post.id)
    )
    return [
        EntryRow(text, title, url, key or "", bool(pick)) for text, title, url, key, pick in rows
    ]


async def recent_picks(
    session: AsyncSession, limit: int, *, language: str | None = None
) -> list[EntryRow]:
    """Editor's picks, newest issues first, each issue key in one language (``language`` when
    the key has it, else the first imported)."""
    chosen = aliased(Issue)
    prefer: list[Any] = []
    if language is not None:
        prefer.append(case((chosen.language == language, 0), else_=1))
    one_language = (
        select(chosen.id)
        .where(chosen.key == Issue.key)
        .order_by(*prefer, chosen.imported_at, chosen.id)
        .limit(1)
        .correlate(Issue)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Item.headline, Item.title, Item.url, Issue.key, Item.paper_id)
        .join(Issue, Issue.id == Item.issue_id)
        .where(Item.pick.is_(True), Issue.id == one_language)
        .order_by(Issue.end_date.desc(), Issue.start_date.desc(), Item.position)
        .limit(limit * 3)  # a monthly round-up repeats its weeks' picks: room to drop them
    )
    seen: set[object] = set()
    found: list[EntryRow] = []
    for headline, title, url, key, paper_id in rows:
        identity = paper_id if paper_id is not None else (url or headline)
        if identity in seen:
            continue
        seen.add(identity)
        found.append(EntryRow(headline, title, url, key, True))
        if len(found) == limit:
            break
    return found
