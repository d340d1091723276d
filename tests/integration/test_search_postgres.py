"""Search on PostgreSQL: wildcards are text, stems still match, the relaxed fallback, and the
index's statistics kept by imports and removals as a rebuild computes them.

Uses the local service like test_migrations (a throw-away database); skipped when absent."""

from __future__ import annotations

import pytest

from bot.app import Container
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
async def pg_app(pg_app: Container) -> Container:
    """conftest's PostgreSQL container with ISSUE stored."""
    await store(pg_app, ISSUE)
    return pg_app


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


def _index_state(url: str) -> tuple[object, ...]:
    """What the ranking reads besides the items: statistics, item counts, list floors."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql:", "postgresql+psycopg:"))
    try:
        with engine.connect() as conn:
            stats = tuple(conn.execute(text("SELECT rows, tokens FROM items_short_pg_stats")).one())
            docs = dict(conn.execute(text("SELECT term, docs FROM items_short_pg_terms")).all())
            rows = conn.execute(text("SELECT count(*) FROM items_short_pg")).scalar_one()
    finally:
        engine.dispose()
    return stats, docs, rows


async def test_counts_follow_imports_and_removals(pg_app: Container, pg_url: str) -> None:
    """Imports add to the statistics and word counts, removals take away (a trigger on the
    cascade), exactly as a rebuild (``db copy``, migration 0011) computes them."""
    from sqlalchemy import create_engine

    from bot.store import search_pg

    await store(pg_app, weekly("2024-W13", [item(1, "Pruning again 剪枝", arxiv="2401.00009")]))
    (rows, tokens), docs, indexed = _index_state(pg_url)
    assert rows == indexed == 7 and tokens > 0
    assert docs["pruning"] == 2 and docs["剪枝"] == 1 and docs["剪"] == 1
    await pg_app.archive.remove("2024-W13")
    after = _index_state(pg_url)
    assert after[0][0] == after[2] == 6
    assert "剪枝" not in after[1] and after[1]["pruning"] == 1  # gone, not left at 0
    engine = create_engine(pg_url.replace("postgresql:", "postgresql+psycopg:"))
    with engine.begin() as conn:
        search_pg.rebuild(conn)
    engine.dispose()
    assert _index_state(pg_url) == after


async def test_a_prefix_is_counted_as_fts5_counts_it(
    pg_app: Container, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idf of a prefix of a few words: their item counts less their overlaps (here
    forced: the "few items" count is switched off) equals counting the items themselves."""
    from sqlalchemy import create_engine, text

    from bot.store import search_pg
    from bot.store.search_rank import Phrase

    await store(pg_app, weekly("2024-W14", [item(1, "pruned pruning prune", arxiv="2401.00010")]))
    engine = create_engine(pg_url.replace("postgresql:", "postgresql+psycopg:"))
    try:
        with engine.connect() as conn:
            expansions = search_pg._lookup(conn, set(), ["prun"])[3]
            words = expansions["prun"]
            assert words is not None and len(words) == 3  # prune, pruned, pruning
            total = sum(k[0] for _, k in words)
            monkeypatch.setattr(search_pg, "CHEAP", 0)
            phrase = Phrase(("prun",), True)
            both = search_pg._exact_counts(conn, [phrase], {phrase: total}, expansions, True)
            counted = both[phrase]
            actual = conn.execute(
                text("SELECT count(*) FROM items_short_pg WHERE doc @@ 'prun:*'::tsquery")
            ).scalar_one()
            assert counted == actual == 3 < total  # one item holds all three
            alone = search_pg._exact_counts(conn, [phrase], {phrase: total}, expansions, False)
            assert alone[phrase] == total
    finally:
        engine.dispose()
