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
    post = await session.scalar(
        select(Post).where(Post.id == post_id).options(selectinload(Post.paper))
    )
    if post is None:
        return None
    issue = None
    if post.issue_id is not None:
        issue = await session.scalar(
            select(Issue).where(Issue.id == post.issue_id).options(selectinload(Issue.items))
        )
    if post.kind == "digest":
        picks = [it for it in issue.items if it.pick] if issue else []
        return render_digest(post_id, post.text, post.url or "", picks, settings)
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
            digest_url=issue.url if issue else None,
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
