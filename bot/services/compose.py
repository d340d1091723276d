"""Rendering a stored post for every platform (pure composing lives in bot.domain)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.telegram_text import compose_digest_message, compose_drip_message
from bot.domain.x_text import compose_digest_tweet, compose_drip_tweet
from bot.publish.base import Outgoing
from bot.store.models import Issue, Item, Paper, Post


async def compose_post(session: AsyncSession, post_id: int, settings: Settings) -> Outgoing | None:
    """One query for what the rendering needs (post, paper id, issue URL); picks for digests."""
    row = (
        await session.execute(
            select(
                Post.kind,
                Post.text,
                Post.title,
                Post.url,
                Post.issue_id,
                Paper.identity,
                Issue.url.label("issue_url"),
            )
            .outerjoin(Paper, Paper.id == Post.paper_id)
            .outerjoin(Issue, Issue.id == Post.issue_id)
            .where(Post.id == post_id)
        )
    ).one_or_none()
    if row is None:
        return None
    if row.kind == "digest":
        picks = list(
            await session.scalars(
                select(Item)
                .where(Item.issue_id == row.issue_id, Item.pick.is_(True))
                .order_by(Item.position)
            )
        )
        return render_digest(post_id, row.text, row.url or "", picks, settings)
    tg = settings.telegram
    return Outgoing(
        post_id,
        compose_drip_tweet(
            row.text, title=row.title, url=row.url, paper=row.identity, link=settings.twitter.link
        ),
        compose_drip_message(
            row.text,
            title=row.title,
            url=row.url,
            paper=row.identity,
            digest_url=row.issue_url,
            buttons=tg.buttons,
            preview=tg.link_preview,
        ),
    )


def render_digest(
    post_id: int, title: str, url: str, picks: list[Item], settings: Settings
) -> Outgoing:
    return Outgoing(
        post_id,
        compose_digest_tweet(title, [p.headline for p in picks], url),
        compose_digest_message(
            title, [(p.headline, p.url) for p in picks], url, buttons=settings.telegram.buttons
        ),
    )
