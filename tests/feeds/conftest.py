"""Fixtures for the feed tests: the local feed site and a feed service with a notifier that
records alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Container
from bot.clock import FrozenClock
from bot.config import FeedsSettings
from bot.publish.notify import LogNotifier
from bot.sandbox import ServerThread
from bot.services.feeds import FeedService
from tests.conftest import FIXTURES
from tests.feeds.feed_site import FeedSite, Item
from tests.feeds.medium_render import render

WEEK41 = "https://medium.com/@akira/akiras-ml-news-week-41-2020-0a1b2c3d4e5f?source=rss----1"
WEEK45_ZH = "https://medium.com/@akira/akiras-ml-news-week45-2020-1234abcd5678?source=rss----1"


def digest_item(name: str, link: str, guid: str, title: str, markdown: str | None = None) -> Item:
    text = markdown if markdown is not None else (FIXTURES / "digests" / name).read_text("utf-8")
    # a feed's relative links resolve against the feed's own URL (here 127.0.0.1): Medium's
    # feeds carry absolute links, so do these
    text = text.replace("](/", "](https://medium.com/")
    return Item(guid, link, title, render(text, style="feed"))


def week41(markdown: str | None = None) -> Item:
    return digest_item(
        "english_weekly.md", WEEK41, "https://medium.com/p/w41", "Akira's ML news #Week 41, 2020",
        markdown,
    )


def week45_zh() -> Item:
    return digest_item("chinese_picks.md", WEEK45_ZH, "https://medium.com/p/w45",
                       "Akira 的 ML 新闻# 2020 年第 45 周")


def note_item() -> Item:
    return Item(
        "https://medium.com/p/note", "https://medium.com/@akira/a-note-on-holidays-77?source=rss",
        "A note on holidays", "<p>No digest next week: I am travelling.</p>",
    )


@pytest.fixture
def site() -> FeedSite:
    return FeedSite(items=[week41()])


@pytest.fixture
def base_url(site: FeedSite) -> Iterator[str]:
    with ServerThread(site.app()) as url:
        yield url


@pytest.fixture
def notifier() -> LogNotifier:
    return LogNotifier()


def make_service(
    app: Container, clock: FrozenClock, notifier: LogNotifier, **settings: float
) -> FeedService:
    return FeedService(
        app.sessions,
        clock,
        FeedsSettings(**settings),  # type: ignore[arg-type]
        app.archive,
        app.queue,
        lambda: notifier,
    )


@pytest.fixture
def feeds(app: Container, clock: FrozenClock, notifier: LogNotifier) -> FeedService:
    return make_service(app, clock, notifier, poll_minutes=60, timeout_seconds=10)


def english_weekly() -> str:
    return Path(FIXTURES / "digests" / "english_weekly.md").read_text("utf-8")
