"""Search on PostgreSQL (case-insensitive LIKE): wildcards are text, stems still match.

Uses the local service like test_migrations (a throw-away database); skipped when absent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.store.migrate import upgrade
from tests.builders import item, store, weekly

pytestmark = pytest.mark.postgres

ISSUE = weekly(
    "2024-W12",
    [
        item(1, "snake_case names for tensors", arxiv="2401.00001"),
        item(2, "A 50% smaller model", arxiv="2401.00002", summary="Half the size, a/b tested."),
        item(3, "Pruning filters block by block", arxiv="2401.00003"),
        item(4, "Heads pruned after training", arxiv="2401.00004", summary="back\\slash"),
        item(5, "Sparse mixtures", arxiv="2401.00005", summary="Each token goes to one expert."),
        item(6, "abc plain words", arxiv="2401.00006", summary="nothing special"),
    ],
)




@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[Container]:
    upgrade(pg_url)
    app = build(load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    try:
        await store(app, ISSUE)
        yield app
    finally:
        await app.aclose()


async def headlines(app: Container, query: str) -> set[str]:
    return {h.headline for h in (await app.archive.search(query)).hits}


async def test_like_wildcards_match_as_text(pg_app: Container) -> None:
    # as on SQLite (tests/integration/test_search_parity.py): a lone _ holds no word, a%b is
    # the words a* and b*, never "a ... b anywhere"
    assert await headlines(pg_app, "_") == set()
    assert await headlines(pg_app, "snake_case") == {"snake_case names for tensors"}
    assert await headlines(pg_app, "50%") == {"A 50% smaller model"}
    assert "abc plain words" not in await headlines(pg_app, "a%b")
    assert "A 50% smaller model" in await headlines(pg_app, "a/b")  # the escape character
    assert await headlines(pg_app, "back\\slash") == {"Heads pruned after training"}
    assert await headlines(pg_app, "%") == set()  # no word at all: no query


async def test_stems_match_on_postgres_too(pg_app: Container) -> None:
    both = {"Pruning filters block by block", "Heads pruned after training"}
    assert await headlines(pg_app, "pruned") == both
    assert await headlines(pg_app, "pruning") == both
    assert await headlines(pg_app, "experts") == {"Sparse mixtures"}


async def test_any_word_fallback_on_postgres(pg_app: Container) -> None:
    result = await pg_app.archive.search("heads pruned zebra")
    assert result.relaxed
    assert [h.headline for h in result.hits] == [
        "Heads pruned after training",  # two of the words
        "Pruning filters block by block",  # one
    ]
    exact = await pg_app.archive.search("heads pruned")
    assert not exact.relaxed and [h.headline for h in exact.hits] == ["Heads pruned after training"]
