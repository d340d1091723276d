"""Subscribers and browsing on PostgreSQL (a throw-away database; skipped when absent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.store import subscribers as repo
from bot.store.migrate import upgrade
from tests.integration.test_browse import archive, big_archive, mark_sent, paper_posts

pytestmark = pytest.mark.postgres




@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[Container]:
    upgrade(pg_url)
    app = build(
        load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, 8, tzinfo=UTC))
    )
    try:
        yield app
    finally:
        await app.aclose()


async def test_subscriber_lifecycle_on_postgres(pg_app: Container) -> None:
    s = pg_app.subscribers
    big = -1009876543210987
    results = await asyncio.gather(*(s.start(big, "zh-hans") for _ in range(5)))
    assert {r.state for r in results} == {"inactive"}
    await s.subscribe(big)
    await s.update(big, receive="drip", quiet=("23:00", "7:00"), timezone="Europe/Berlin")
    await s.subscribe(2)
    await s.update(2, receive="digest")
    await s.mark_blocked(2)
    async with pg_app.sessions() as session:
        assert [r.chat_id for r in await repo.audience(session, "paper")] == [big]
        assert await repo.audience(session, "digest") == []
    assert (await s.start(2, "en")).state == "active"
    await s.migrate(big, big - 1)
    moved = await s.get(big - 1)
    assert moved is not None and (moved.quiet_end, moved.language) == ("07:00", "zh")
    assert await s.counts() == {"active": 2, "inactive": 0, "blocked": 0}


async def test_browse_on_postgres(pg_app: Container) -> None:
    await archive(pg_app)
    await pg_app.queue.enqueue_issues(["2026-W09"])
    posts = await paper_posts(pg_app)
    monday = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    await mark_sent(pg_app, posts["2602.00092"], monday + timedelta(hours=1), slot=monday)
    view = await pg_app.browse.week()
    assert (view.key, view.prev_key, view.next_key) == ("2026-W09", "2026-W08", None)
    assert [d.headline for d in view.dripped] == ["Robots fold laundry"]
    assert (await pg_app.browse.week("2026-w08", language="zh")).next_key == "2026-W09"
    assert [p.issue for p in await pg_app.browse.recent_picks(3)] == [
        "2026-W09",
        "2026-02",
        "2026-W08",
    ]


async def test_search_pages_on_postgres(pg_app: Container) -> None:
    expected = await big_archive(pg_app)
    seen: list[str] = []
    page = 1
    while True:
        result = await pg_app.browse.search_page("learns", page, 20)
        seen += [h.headline for h in result.hits]
        if not result.has_next:
            break
        page += 1
    assert len(seen) == 130 and set(seen) == expected
