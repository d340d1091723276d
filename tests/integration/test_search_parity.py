"""One search test set, run against both stores: SQLite (FTS5, bm25, impact lists) and
PostgreSQL (the same tokens and bm25 from the same statistics, its own impact lists, pg_trgm).
Each case asserts the expected best results on each store; the parity tests assert both stores
give the same top 10, in the same order, for every query of the set: on an archive of the real
digest fixtures plus a ranking fixture, and on a generated archive where PostgreSQL ranks from
its impact lists (made short so that they are read, trimmed and bounded)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.domain.model import ParsedIssue, ParsedItem, SearchFilters
from bot.store import search_pg, search_pg_index
from bot.store.migrate import upgrade
from tests.builders import item, store, weekly
from tests.conftest import FIXTURES

pytestmark = pytest.mark.postgres

DIGESTS = [
    str(p) for p in sorted((FIXTURES / "digests").glob("*.md")) if not p.name.startswith("not_")
] + [str(p) for p in sorted((FIXTURES / "bilingual").glob("*.md"))]


def _item(n: int, headline: str, summary: str = "", title: str | None = None) -> ParsedItem:
    return item(n, headline, arxiv=f"2501.{n:05d}", summary=summary, title=title, pick=n % 3 == 0)


RANKING = weekly(
    "2025-W07",
    [
        _item(1, "Notes on a workshop", summary="One talk was about sparse attention kernels."),
        _item(2, "Sparse attention, explained"),
        _item(3, "A long survey of many things", title="Sparse attention in practice"),
        _item(4, "剪枝让模型更小", summary="剪枝之后的模型更快。"),
        _item(5, "量化模型", summary="另一种压缩。"),
        _item(6, "A 50% smaller model", summary="Half the size, a/b tested."),
        _item(7, "snake_case names for tensors"),
        _item(8, "BigGAN samples at scale", summary="Class-conditional image synthesis."),
        _item(9, "Heads pruned after training", summary="Fewer heads, same accuracy."),
        _item(10, "Pruning filters block by block"),
        _item(11, "Experts routed per token", summary="Each token picks one expert."),
    ],
)

# query -> the best hit's headline on every store
BEST = {
    "sparse attention": "Sparse attention, explained",  # headline beats title beats summary
    "剪枝": "剪枝让模型更小",  # a two-character CJK word, by index
    "剪": "剪枝让模型更小",  # one character
    "50%": "A 50% smaller model",  # % is text
    "snake_case": "snake_case names for tensors",
    "gan": "BigGAN samples at scale",  # inside a word: the substring index
    "pruning": "Pruning filters block by block",  # and, by stem, pruned
    "expert": "Experts routed per token",
}
# query -> every headline found on every store (as sets)
FOUND = {
    "pruned": {"Heads pruned after training", "Pruning filters block by block"},
    "pruning": {"Heads pruned after training", "Pruning filters block by block"},
    "_": set(),  # no word at all
    "%": set(),
    "量化": {"量化模型"},
}
# the queries the two stores' rankings are compared on: every one finds something
PARITY = (
    *("transformer", "transformers", "attention", "images", "image", "deformable detr"),
    *("language model", "training", "heads", "learning", "object detection", "detection"),
    *("data", "pruned", "experts", "model", "patches", "paper", "survey", "link"),
    *("title", "sparse attention", "50%", "gan", "剪枝", "剪", "模型", "学习", "注意力"),
    *("训练", "扩散", "snake_case", "expert", "Sparse", "ATTENTION", "prune", "routed"),
    *("sparse attention kernels", "model 模型", "剪枝 模型", "2501.00004", "arxiv.org"),
    *("2501", "a/b", "模", "剪枝让", "更小", "snake", "image synthesis"),
)
# queries whose text is not what it seems: every store finds the same (maybe nothing)
HOSTILE = (
    *("%", "_", "%%", "50%", "a%b", "_case", "\\", "'", "''", '"', '"sparse attention"'),
    *("sparse AND attention", "sparse OR attention", "NOT sparse", "NEAR(sparse attention)"),
    *("sparse*", "spar*", "headline:sparse", "^sparse", "-gan", "(sparse)", "{sparse}"),
    *("'; DROP TABLE items; --", "sparse & attention", "sparse | model", "!model", "<->"),
    *("model:*", "a:b", "\\x00", "😀 model", "ｍｏｄｅｌ", "Modèle", "x" * 150),
)


async def _archive(url: str) -> Container:
    upgrade(url)
    app = build(load_settings(database_url=url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    report = await app.archive.import_targets(DIGESTS)
    assert not report.failed
    await store(app, RANKING)
    return app


@pytest.fixture
async def stores(tmp_path: Path, pg_url: str) -> AsyncIterator[dict[str, Container]]:
    apps = {
        "sqlite": await _archive(f"sqlite:///{tmp_path / 'parity.db'}"),
        "postgres": await _archive(pg_url),
    }
    try:
        yield apps
    finally:
        for app in apps.values():
            await app.aclose()


async def _headlines(app: Container, query: str, limit: int = 20) -> list[str]:
    return [h.headline for h in (await app.archive.search(query, limit=limit)).hits]


async def test_expected_best_results_on_both_stores(stores: dict[str, Container]) -> None:
    for name, app in stores.items():
        for query, best in BEST.items():
            got = await _headlines(app, query)
            assert got[:1] == [best], (name, query, got[:3])
        for query, found in FOUND.items():
            assert set(await _headlines(app, query)) == found, (name, query)


async def test_same_top_results_on_both_stores(stores: dict[str, Container]) -> None:
    """The same bm25 from the same statistics: the same top 10, in order (ties newest
    first), for every query of the set."""
    differ = {}
    for query in PARITY:
        sqlite = await _headlines(stores["sqlite"], query, 10)
        postgres = await _headlines(stores["postgres"], query, 10)
        assert sqlite, query  # every parity query finds something
        if sqlite != postgres:
            differ[query] = (sqlite, postgres)
    assert not differ


async def test_hostile_queries_agree(stores: dict[str, Container]) -> None:
    for query in HOSTILE:
        results = [await stores[name].archive.search(query) for name in ("sqlite", "postgres")]
        assert [h.headline for h in results[0].hits] == [h.headline for h in results[1].hits], query
        assert results[0].relaxed == results[1].relaxed, query


async def test_pages_agree(stores: dict[str, Container]) -> None:
    for query in ("model", "模型", "attention"):
        pages = [
            [h.headline for h in (await stores[name].archive.search(query, limit=3, offset=3)).hits]
            for name in ("sqlite", "postgres")
        ]
        assert pages[0] == pages[1] != [], query


async def test_same_items_found_and_highlighted(stores: dict[str, Container]) -> None:
    for query in (*PARITY, *BEST, *FOUND):
        sqlite = await stores["sqlite"].archive.search(query)
        postgres = await stores["postgres"].archive.search(query)
        assert sorted(h.headline for h in sqlite.hits) == sorted(h.headline for h in postgres.hits)
        assert {h.snippet for h in sqlite.hits} == {h.snippet for h in postgres.hits}, query


async def test_filters_and_any_word_fallback_agree(stores: dict[str, Container]) -> None:
    for name, app in stores.items():
        relaxed = await app.archive.search("heads pruned zebra")
        assert relaxed.relaxed, name
        found = [h.headline for h in relaxed.hits]
        assert found[0] == "Heads pruned after training", name  # two of the words
        assert "Pruning filters block by block" in found, name  # one
    for filters in (
        SearchFilters(year=2025),
        SearchFilters(year=2020),
        SearchFilters(picks_only=True),
        SearchFilters(section="articles"),
    ):
        answers = [
            [h.headline for h in (await app.archive.search("model", filters=filters)).hits]
            for app in stores.values()
        ]
        assert answers[0] == answers[1], filters


async def test_removed_and_replaced_issues_leave_the_index(stores: dict[str, Container]) -> None:
    for name, app in stores.items():
        assert (await _headlines(app, "gan"))[:1] == ["BigGAN samples at scale"], name
        await app.archive.remove("2025-W07")
        assert "BigGAN samples at scale" not in await _headlines(app, "gan"), name
        assert await _headlines(app, "剪枝") == [], name
        await store(app, weekly("2025-W07", [_item(1, "剪枝 again, renamed")]))
        assert await _headlines(app, "剪枝") == ["剪枝 again, renamed"], name


async def test_the_migration_indexes_an_existing_archive(pg_url: str) -> None:
    from bot.store.migrate import alembic_config

    app = await _archive(pg_url)
    try:
        before = await _headlines(app, "sparse attention")
        from alembic import command

        command.downgrade(alembic_config(pg_url), "0008")  # drops the search tables
        upgrade(pg_url)  # 0009 again: indexes every item already there
        assert await _headlines(app, "sparse attention") == before != []
        assert (await _headlines(app, "剪"))[:1] == ["剪枝让模型更小"]
    finally:
        await app.aclose()


# ---------------------------------------------------------------- PostgreSQL's impact lists
WORDS_EN = (
    *("model", "models", "modeling", "transformer", "transformers", "transform", "pruning"),
    *("pruned", "prune", "attention", "sparse", "image", "images", "training", "data"),
)
WORDS_ZH = ("模型", "剪枝", "注意力", "学习", "训练", "扩散", "图像")
LISTED_QUERIES = (
    *("model", "models", "transformer", "transform", "pruned", "pruning", "attention"),
    *("sparse attention", "model data", "image training", "mod", "trans", "模型", "剪枝"),
    *("注意力", "学习 训练", "模", "模型 model", "sparse zebra", "prune images data"),
)


def generated(n_issues: int = 24, per_issue: int = 12, seed: int = 11) -> list[ParsedIssue]:
    """Items of a few common words in random numbers and places (many ties of length and
    frequency too, broken newest first on both stores)."""
    rng = random.Random(seed)

    def words(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS_EN) for _ in range(rng.randint(low, high)))

    issues = []
    for week in range(1, n_issues + 1):
        items = []
        for pos in range(1, per_issue + 1):
            n = week * 100 + pos
            zh = "".join(rng.choice(WORDS_ZH) for _ in range(rng.randint(0, 3)))
            headline = words(1, 5) + (f" {zh}" if rng.random() < 0.4 else "")
            summary = f"{words(0, 20)}。{zh * rng.randint(0, 2)}"
            title = words(0, 4) or None
            items.append(item(pos, headline, arxiv=f"2402.{n:05d}", summary=summary, title=title))
        issues.append(weekly(f"2023-W{week:02d}", items))
    return issues


def _pg_lists(url: str) -> dict[str, object]:
    """The impact lists' invariant, checked from the tables: every item holding a listed word
    but left out of its list weighs at most the floor (at the list's reference length)."""
    from bot.store.search_rank import Phrase, saturation

    engine = create_engine(url.replace("postgresql:", "postgresql+psycopg:"))
    try:
        with engine.connect() as conn:
            terms = conn.execute(
                text(
                    "SELECT term, floor, ref_length FROM items_short_pg_terms "
                    "WHERE floor IS NOT NULL"
                )
            ).all()
            items = conn.execute(
                text(
                    "SELECT item_id, length, tok_headline, tok_title, tok_summary, tok_url "
                    "FROM items_short_pg"
                )
            ).all()
            listed = {
                (str(t), int(i))
                for t, i in conn.execute(text("SELECT term, item_id FROM items_short_pg_impacts"))
            }
            stats = conn.execute(text("SELECT rows, tokens FROM items_short_pg_stats")).one()
            docs = dict(conn.execute(text("SELECT term, docs FROM items_short_pg_terms")).all())
    finally:
        engine.dispose()
    from bot.store.search_rank import ItemText

    for term, floor, ref in terms:
        phrase = Phrase((term,), False)
        for item_id, length, *joined in items:
            freq = phrase.freq(ItemText(length, tuple(joined)))
            if freq and (term, item_id) not in listed:
                assert saturation(freq, length, ref) <= floor, (term, item_id)
    return {"terms": len(terms), "stats": tuple(stats), "docs": docs}


async def test_postgres_ranks_from_its_impact_lists_like_sqlite(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short lists (a word in 15 items gets one of 40, trimmed after 10 more) and no "few
    matches" shortcut: PostgreSQL answers from its lists, SQLite from FTS5 over every match;
    the top 10 agree in order, after incremental imports, a removal, and a rebuild."""
    monkeypatch.setattr(search_pg_index, "LISTED", 15)
    monkeypatch.setattr(search_pg_index, "LIST_LENGTH", 40)
    monkeypatch.setattr(search_pg_index, "TRIM_SLACK", 10)
    monkeypatch.setattr(search_pg, "EXACT_MAX", 0)
    decided = []
    threshold = search_pg._threshold

    def spy(*args: object, **kwargs: object) -> list[int] | None:
        found = threshold(*args, **kwargs)  # type: ignore[arg-type]
        decided.append(found is not None)
        return found

    monkeypatch.setattr(search_pg, "_threshold", spy)
    now = FrozenClock(datetime(2026, 3, 2, tzinfo=UTC))
    issues = generated()
    apps = {}
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'lists.db'}"), ("postgres", pg_url)):
        upgrade(url)
        apps[name] = build(load_settings(database_url=url), now)
        for issue in issues:  # one by one: lists made, grown and trimmed on the way
            await store(apps[name], issue)

    async def compare() -> None:
        differ = {}
        for query in LISTED_QUERIES:
            answers = [await _headlines(apps[n], query, 10) for n in ("sqlite", "postgres")]
            if answers[0] != answers[1]:
                differ[query] = answers
        assert not differ

    try:
        lists = _pg_lists(pg_url)
        assert lists["terms"]  # lists were made
        await compare()
        assert sum(decided) >= len(LISTED_QUERIES) // 2, decided  # the lists answered
        for app in apps.values():
            await app.archive.remove("2023-W05")
        await compare()
        before = _pg_lists(pg_url)
        engine = create_engine(pg_url.replace("postgresql:", "postgresql+psycopg:"))
        with engine.begin() as conn:
            search_pg.rebuild(conn)  # what db copy and migration 0011 run
        engine.dispose()
        after = _pg_lists(pg_url)
        # the trigger kept the counts and statistics as a rebuild computes them
        assert before["stats"] == after["stats"] and before["docs"] == after["docs"]
        await compare()
    finally:
        for app in apps.values():
            await app.aclose()
