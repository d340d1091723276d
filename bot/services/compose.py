"""Rendering a stored post for every platform (pure composing lives in bot.domain)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import Settings
from bot.domain.telegram_text import compose_digest_message, compose_drip_message
from bot.domain.x_text import compose_digest_tweet, compose_drip_tweet
from bot.publish.base import Outgoing
from bot.store.models import Issue, Item, Post


async def compose_post(session: AsyncSession, post_id: int, settings: Settings) -> Outgoing | None:
    """Load just what the rendering needs (post, paper id, issue URL or the picks)."""
    post = await session.scalar(
        select(Post).where(Post.id == post_id).options(selectinload(Post.paper))
    )
    if post is None:
        return None
    if post.kind == "digest":
        picks = list(
            await session.scalars(
                select(Item)
                .where(Item.issue_id == post.issue_id, Item.pick.is_(True))
                .order_by(Item.position)
            )
        )
        return render_digest(post_id, post.text, post.url or "", picks, settings)
    digest_url = None
    if post.issue_id is not None:
        digest_url = await session.scalar(select(Issue.url).where(Issue.id == post.issue_id))
    identity = post.paper.identity if post.paper else None
    tg = settings.telegram
    return Outgoing(
        post_id,
        compose_drip_tweet(
            post.text, title=post.title, url=post.url, paper=identity, link=settings.twitter.link
        ),
        compose_drip_message(
            post.text,
            title=post.title,
            url=post.url,
            paper=identity,
            digest_url=digest_url,
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
