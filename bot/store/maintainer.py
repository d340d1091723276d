"""Reads for the maintainer services (issue 8): where a paper was covered, its posts, stats.
Never commits."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Delivery, Issue, Item, Paper, Post, Subscriber


async def paper_items(session: AsyncSession, identity: str) -> list[tuple[Item, Issue]]:
    """Items about the paper ``identity`` with their issues, the newest issue first."""
    rows = await session.execute(
        select(Item, Issue)
        .join(Issue, Issue.id == Item.issue_id)
        .join(Paper, Paper.id == Item.paper_id)
        .where(Paper.identity == identity)
        .order_by(Issue.start_date.desc(), Issue.imported_at, Issue.id, Item.position)
    )
    return [(item, issue) for item, issue in rows]


async def paper_posts(session: AsyncSession, identity: str) -> list[Post]:
    """Paper posts of ``identity`` that are not cancelled (queued, sending, sent, failed)."""
    rows = await session.scalars(
        select(Post)
        .join(Paper, Paper.id == Post.paper_id)
        .where(Paper.identity == identity, Post.kind == "paper", Post.state != "cancelled")
        .order_by(Post.id)
    )
    return list(rows)


async def items_of_keys(session: AsyncSession, keys: Sequence[str]) -> list[tuple[Item, str]]:
    rows = await session.execute(
        select(Item, Issue.key)
        .join(Issue, Issue.id == Item.issue_id)
        .where(Issue.key.in_(keys), Item.paper_id.is_not(None))
        .order_by(Issue.start_date, Issue.imported_at, Issue.id, Item.position)
    )
    return [(item, key) for item, key in rows]


async def paper_identities(session: AsyncSession, paper_ids: set[int]) -> dict[int, str]:
    if not paper_ids:
        return {}
    rows = await session.execute(select(Paper.id, Paper.identity).where(Paper.id.in_(paper_ids)))
    return {pid: identity for pid, identity in rows}


# --- stats -------------------------------------------------------------------------------


async def subscriber_states(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Subscriber.state, func.count()).group_by(Subscriber.state))
    return {state: int(n) for state, n in rows}


async def subscribers_per_week(session: AsyncSession, bounds: Sequence[datetime]) -> list[int]:
    """Subscribers created in each window [bounds[i], bounds[i+1]) (one grouped query)."""
    column = Subscriber.created_at
    index = _window_index(column, bounds).label("window")
    rows = await session.execute(
        select(index, func.count()).where(column >= bounds[0], column < bounds[-1]).group_by(index)
    )
    return _counts(rows, len(bounds) - 1)


def _counts(rows: Any, windows: int) -> list[int]:
    out = [0] * windows
    for window, count in rows:
        out[int(window)] = int(count)
    return out


async def sent_per_destination(session: AsyncSession) -> dict[str, int]:
    """Deliveries sent: to X, to the channel, and to subscribers' private chats (one pass,
    no grouping: every subscriber chat is one destination)."""
    x = func.sum(case((Delivery.destination == "x", 1), else_=0))
    channel = func.sum(case((Delivery.destination == "telegram:channel", 1), else_=0))
    row = (
        await session.execute(select(x, channel, func.count()).where(Delivery.state == "sent"))
    ).one()
    to_x, to_channel, total = (int(n or 0) for n in row)
    counts = {"x": to_x, "telegram:channel": to_channel, "subscribers": total - to_x - to_channel}
    return {k: v for k, v in counts.items() if v}


async def problem_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.state.in_(("parked", "failed", "dead")))
        .group_by(Delivery.state)
    )
    return {state: int(n) for state, n in rows}


def _window_index(column: Any, bounds: Sequence[datetime]) -> Any:
    """The index i of the window [bounds[i], bounds[i+1]) holding ``column`` (rows outside
    ``bounds`` must be filtered out by the caller)."""
    whens = [(column < end, i) for i, end in enumerate(bounds[1:-1])]
    return case(*whens, else_=len(bounds) - 2) if whens else literal(0)


async def sent_per_week(
    session: AsyncSession, bounds: Sequence[datetime]
) -> list[tuple[int, float]]:
    """Per window [bounds[i], bounds[i+1]): posts first sent in it, and the X spend of the X
    deliveries sent in it. One query grouped by post (a few hundred rows however many
    subscribers each post reached); the windows are filled in here."""
    is_x = Delivery.destination == "x"
    rows = await session.execute(
        select(
            func.min(Delivery.sent_at),
            func.min(case((is_x, Delivery.sent_at))),
            func.sum(case((is_x, Delivery.cost_usd), else_=0.0)),
        )
        .where(
            Delivery.state == "sent", Delivery.sent_at >= bounds[0], Delivery.sent_at < bounds[-1]
        )
        .group_by(Delivery.post_id)
    )
    posts = [0] * (len(bounds) - 1)
    spend = [0.0] * (len(bounds) - 1)
    for first, x_at, cost in rows:
        posts[_window(first, bounds)] += 1
        if x_at is not None:
            spend[_window(x_at, bounds)] += float(cost or 0.0)
    return list(zip(posts, spend, strict=True))


def _window(moment: datetime | str, bounds: Sequence[datetime]) -> int:
    """The window [bounds[i], bounds[i+1]) holding ``moment`` (an aggregate over a UTC column
    comes back naive, or as text on SQLite: read as UTC)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, bisect_right(bounds, moment) - 1)


async def problems_per_week(session: AsyncSession, bounds: Sequence[datetime]) -> list[int]:
    """Deliveries that ended failed, dead or parked in each window (by their last update)."""
    column = Delivery.updated_at
    index = _window_index(column, bounds).label("window")
    rows = await session.execute(
        select(index, func.count())
        .where(
            Delivery.state.in_(("parked", "failed", "dead")),
            column >= bounds[0],
            column < bounds[-1],
        )
        .group_by(index)
    )
    return _counts(rows, len(bounds) - 1)
