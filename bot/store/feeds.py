"""Feeds repository: the feeds table. Never commits (the service owns the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import Feed, Issue, Post


async def get_feed(session: AsyncSession, url: str) -> Feed | None:
    return await session.scalar(select(Feed).where(Feed.url == url))


async def add_feed(session: AsyncSession, url: str, *, enqueue: bool, now: datetime) -> Feed:
    feed = Feed(
        url=url, enqueue=enqueue, failures=0, alerted=False, seen=[], created_at=now, updated_at=now
    )
    session.add(feed)
    await session.flush()
    return feed


async def list_feeds(session: AsyncSession) -> list[Feed]:
    return list(await session.scalars(select(Feed).order_by(Feed.id)))


async def due_feeds(session: AsyncSession, now: datetime) -> list[Feed]:
    """Feeds whose back-off (if any) is over, oldest first."""
    rows = await session.scalars(
        select(Feed)
        .where(or_(Feed.next_check_at.is_(None), Feed.next_check_at <= now))
        .order_by(Feed.id)
    )
    return list(rows)


async def remove_feed(session: AsyncSession, url: str) -> bool:
    result = await session.execute(delete(Feed).where(Feed.url == url))
    return bool(getattr(result, "rowcount", 0))


async def keys_with_posts(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The issue keys (any language) with a post that is not cancelled: issues queued before."""
    rows = await session.scalars(
        select(Issue.key)
        .join(Post, Post.issue_id == Issue.id)
        .where(Issue.key.in_(list(keys)), Post.state != "cancelled")
        .distinct()
    )
    return set(rows)
