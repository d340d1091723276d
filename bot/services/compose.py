"""Rendering a stored post for every platform (pure composing lives in bot.domain)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.telegram_text import compose_digest_message, compose_drip_message
from bot.domain.x_text import compose_digest_tweet, compose_drip_tweet
from bot.publish.base import Outgoing
from bot.store.models import Issue, Item, Paper, Post

Pick = tuple[str, str | None]  # (headline, url)


async def compose_post(session: AsyncSession, post_id: int, settings: Settings) -> Outgoing | None:
    """Render one post. One query for a paper post (post, paper id, issue URL); a digest
    also counts the issue's papers in that query and reads its picks in a second one.

    ``Outgoing.x_text`` is ``None`` when the post is not to be sent to X
    (``twitter.link = "arxiv_id"``, ``link_fallback = "skip"`` and no arXiv id):
    the dispatcher cancels that delivery ("not posted to X").
    """
    papers = (
        select(func.count(Item.id))
        .where(Item.issue_id == Post.issue_id, Item.section == "papers")
        .scalar_subquery()
    )
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
                Issue.title.label("issue_title"),
                Issue.key.label("issue_key"),
                Issue.language,
                case((Post.kind == "digest", papers), else_=None).label("papers"),
            )
            .outerjoin(Paper, Paper.id == Post.paper_id)
            .outerjoin(Issue, Issue.id == Post.issue_id)
            .where(Post.id == post_id)
        )
    ).one_or_none()
    if row is None:
        return None
    if row.kind == "digest":
        picks = (
            await session.execute(
                select(Item.headline, Item.url)
                .where(Item.issue_id == row.issue_id, Item.pick.is_(True))
                .order_by(Item.position)
            )
        ).all()
        title = next((t for t in (row.text, row.issue_title, row.issue_key) if t and t.strip()), "")
        return render_digest(
            post_id,
            title,
            row.url or row.issue_url or "",
            [(p.headline, p.url) for p in picks],
            settings,
            papers=row.papers,
            language=row.language,
        )
    tg, tw = settings.telegram, settings.twitter
    return Outgoing(
        post_id,
        compose_drip_tweet(
            row.text,
            title=row.title,
            url=row.url,
            paper=row.identity,
            link=tw.link,
            fallback=tw.link_fallback,
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
    post_id: int,
    title: str,
    url: str,
    picks: Sequence[Pick],
    settings: Settings,
    *,
    papers: int | None = None,
    language: str | None = None,
) -> Outgoing:
    """The weekly announcement for both platforms: title, paper count, picks, link, with
    labels in the issue's language."""
    headlines = [headline for headline, _ in picks]
    return Outgoing(
        post_id,
        compose_digest_tweet(title, headlines, url, papers=papers, language=language),
        compose_digest_message(
            title,
            picks,
            url,
            buttons=settings.telegram.buttons,
            papers=papers,
            language=language,
        ),
    )
