"""compose_post on a real database: the digest's paper count, picks and labels in few queries,
and the X fallback for items without an arXiv id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import event, select

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.domain.x_text import contains_url, is_valid_tweet
from bot.publish.base import Outgoing
from bot.sandbox.telegram_html import parse_html
from bot.services.compose import compose_post
from bot.store.models import Post
from tests.builders import item, store, weekly

BLOG = "https://blog.example.org/posts/sparse"
KEY = "2026-W10"


def tuned(settings: Settings, **twitter: Any) -> Settings:
    return settings.model_copy(update={"twitter": settings.twitter.model_copy(update=twitter)})


def items() -> list[Any]:
    return [
        item(1, "Pick one <b>&</b>", arxiv="2601.00001", pick=True),
        item(2, "Plain paper", arxiv="2601.00002"),
        item(3, "A blog post worth reading.", url=BLOG, section="articles", title="Sparse"),
        item(4, "Second pick", arxiv="2601.00004", pick=True),
        item(5, "Third paper", arxiv="2601.00005"),
        item(6, "A use case", url="https://example.com/uc", section="use_cases", pick=True),
    ]


async def enqueue(app: Container, *, title: str | None = None, language: str = "en") -> list[int]:
    issue = weekly(KEY, items())
    issue = replace(issue, title=title or issue.title, language=language)  # type: ignore[arg-type]
    await store(app, issue)
    report = await app.queue.enqueue_issues([KEY])
    return [*report.papers, *report.digests]


@contextmanager
def counting_selects(app: Container) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2])
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def compose(app: Container, post_id: int) -> Outgoing:
    async with app.sessions() as session:
        outgoing = await compose_post(session, post_id, app.settings)
    assert outgoing is not None
    return outgoing


async def post_id(app: Container, kind: str, url: str | None = None) -> int:
    async with app.sessions() as session:
        query = select(Post.id).where(Post.kind == kind)
        if url:
            query = query.where(Post.url == url)
        return int((await session.scalars(query)).one())


async def test_digest_has_count_picks_and_link_in_two_queries(
    settings: Settings, clock: FrozenClock
) -> None:
    app = build(settings, clock)
    try:
        await enqueue(app)
        digest = await post_id(app, "digest")
        with counting_selects(app) as selects:
            outgoing = await compose(app, digest)
        assert len(selects) <= 2, selects
        url = f"https://medium.com/@demo/ml-news-{KEY.lower()}"
        assert outgoing.x_text == (
            f"ML news {KEY}\n4 papers\n\nEditor's picks\n"
            f"• Pick one <b>&</b>\n• Second pick\n• A use case\n\n{url}"
        )
        assert is_valid_tweet(outgoing.x_text)
        shown = parse_html(outgoing.telegram.text).text
        assert shown == (
            f"ML news {KEY}\n4 papers\n\nEditor's picks\n"
            "• Pick one <b>&</b>\n• Second pick\n• A use case"
        )
        assert '<a href="https://example.com/uc">A use case</a>' in outgoing.telegram.text
        assert outgoing.telegram.buttons[0][0].text == "Read the issue"

        paper = await post_id(app, "paper", "https://arxiv.org/abs/2601.00002")
        with counting_selects(app) as selects:
            await compose(app, paper)
        assert len(selects) == 1  # a paper post does not count papers
    finally:
        await app.aclose()


async def test_chinese_issue_gets_chinese_labels(settings: Settings, clock: FrozenClock) -> None:
    app = build(settings, clock)
    try:
        await enqueue(app, title="2026 年第 10 周", language="zh")
        outgoing = await compose(app, await post_id(app, "digest"))
        assert outgoing.x_text is not None
        assert outgoing.x_text.startswith("2026 年第 10 周\n本期 4 篇论文\n\n编辑精选\n• Pick one")
        shown = parse_html(outgoing.telegram.text).text
        assert shown.startswith("2026 年第 10 周\n本期 4 篇论文\n\n编辑精选\n• Pick one")
        assert outgoing.telegram.buttons[0][0].text == "阅读本期"
    finally:
        await app.aclose()


async def test_non_arxiv_item_fallbacks(settings: Settings, clock: FrozenClock) -> None:
    expected = {
        "title": "A blog post worth reading. (blog.example: Sparse)",
        "url": f"A blog post worth reading. {BLOG}",
        "skip": None,
    }
    for fallback, x_text in expected.items():
        app = build(tuned(settings, link="arxiv_id", link_fallback=fallback), clock)
        try:
            if fallback == "title":
                await enqueue(app)
            outgoing = await compose(app, await post_id(app, "paper", BLOG))
            assert outgoing.x_text == x_text
            assert x_text is None or contains_url(x_text) == (fallback == "url")
            assert "A blog post worth reading." in outgoing.telegram.text  # Telegram unchanged
            arxiv = await compose(
                app, await post_id(app, "paper", "https://arxiv.org/abs/2601.00002")
            )
            assert arxiv.x_text == "Plain paper arXiv:2601.00002"
        finally:
            await app.aclose()


async def test_link_none_keeps_no_link(settings: Settings, clock: FrozenClock) -> None:
    app = build(tuned(settings, link="none", link_fallback="url"), clock)
    try:
        await enqueue(app)
        outgoing = await compose(app, await post_id(app, "paper", BLOG))
        assert outgoing.x_text == "A blog post worth reading."
    finally:
        await app.aclose()
