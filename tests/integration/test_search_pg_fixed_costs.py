"""The PostgreSQL search's cuts of its fixed costs change no result: the word index proves a
trigram top-up empty as on SQLite (``search_pg._nothing_to_top_up``, and only when it is),
the top-up's patterns reach the trigram index through an InitPlan (no planner estimate), a
query of rare words only scores every match at once instead of reading each word's items
first, and ``hit_rows`` gives the rows the ORM's select gave.

The PostgreSQL tests use the local service like test_search_postgres (skipped when absent)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, select

from bot.app import Container
from bot.store import search_pg
from bot.store.models import Issue, Item, Paper
from bot.store.search_rank import Phrase
from tests.builders import item, store, weekly

pytestmark = pytest.mark.postgres

IDS = weekly(
    "2023-W05",
    [
        item(1, "Sparse experts at scale", arxiv="2301.12345"),
        item(2, "Another id with the same tail", arxiv="2209.12345"),
        item(3, "Tail as a word start", url="https://example.org/12345abc"),
    ],
)
INSIDE = weekly(
    "2023-W06",
    [
        item(1, "Cited inside a word", summary="see ref x2301.12345y for the code"),
        item(2, "Unrelated", summary="nothing to see"),
    ],
)
RARE = weekly(
    "2023-W07",
    [
        item(1, "Wavelet pruning of heads", arxiv="2302.00001", summary="wavelet wavelet"),
        item(2, "Pruning by wavelets", arxiv="2302.00002", pick=True),
        item(3, "Heads and tails", arxiv="2302.00003", summary="a wavelet view of pruning"),
    ],
)


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """Record the calls of ``search_pg.<name>`` (their results)."""
    calls: list[Any] = []
    real = getattr(search_pg, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        calls.append(found)
        return found

    monkeypatch.setattr(search_pg, name, spy)
    return calls


def _url(app: Container) -> str:
    return str(app.settings.database_url).replace("postgresql:", "postgresql+psycopg:")


async def _heads(app: Container, query: str) -> list[str]:
    return [h.headline for h in (await app.archive.search(query)).hits]


async def test_the_top_up_is_skipped_when_the_words_prove_it_empty(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(pg_app, IDS)
    substring = _spy(monkeypatch, "_substring_ids")
    assert await _heads(pg_app, "2301.12345") == ["Sparse experts at scale"]
    assert substring == []  # "2209.12345" shares the tail, not the id: proven, not read
    await _heads(pg_app, "experts")  # one word: it may sit inside another, read as before
    assert len(substring) == 1


async def test_the_proof_fails_when_another_item_holds_the_term(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(pg_app, IDS, INSIDE)
    substring = _spy(monkeypatch, "_substring_ids")
    heads = await _heads(pg_app, "2301.12345")
    assert heads[0] == "Sparse experts at scale"  # the word match first
    assert "Cited inside a word" in heads  # then the trigram top-up, which ran
    assert "Another id with the same tail" not in heads
    assert len(substring) == 1


async def test_the_proof_gives_up_on_common_tails(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More items of the tail's words than ANCHOR_ITEMS: not proven; the top-up runs and
    finds the same as before."""
    await store(pg_app, IDS, INSIDE)
    monkeypatch.setattr(search_pg, "ANCHOR_ITEMS", 1)
    substring = _spy(monkeypatch, "_substring_ids")
    assert "Cited inside a word" in await _heads(pg_app, "2301.12345")
    assert len(substring) == 1


async def test_any_word_needs_every_term_anchored(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(pg_app, IDS, INSIDE)
    engine = create_engine(_url(pg_app))
    try:
        with engine.connect() as conn:
            ids = {h: i for h, i in conn.execute(select(Item.headline, Item.id))}
            first, second = ids["Sparse experts at scale"], ids["Another id with the same tail"]
            # any word: "experts" has no anchor (it may sit inside any word): not proven
            assert not search_pg._nothing_to_top_up(conn, ["2209.12345", "experts"], [], True)
            # every word: the anchored term alone proves it (its items hold every match)
            assert search_pg._nothing_to_top_up(conn, ["2209.12345", "experts"], [second], False)
            # x2301.12345y may hold the term: not proven
            assert not search_pg._nothing_to_top_up(conn, ["2301.12345"], [first], False)
    finally:
        engine.dispose()


async def test_rare_words_only_score_every_match_at_once(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No word has a list: the threshold algorithm gives up before reading any word's items
    (which costs what scoring every match does), and every match is scored."""
    await store(pg_app, RARE)
    decided = _spy(monkeypatch, "_threshold")
    rare_rows = _spy(monkeypatch, "_rare_rows")
    exact = await _heads(pg_app, "wavelet pruning")  # few matches: all scored at once
    assert decided == [] and len(exact) == 3
    monkeypatch.setattr(search_pg, "EXACT_MAX", 0)  # the lists' path is tried
    assert await _heads(pg_app, "wavelet pruning") == exact
    assert decided == [None] and rare_rows == []


async def test_hit_rows_are_the_orm_rows(pg_app: Container) -> None:
    await store(pg_app, IDS, RARE)
    engine = create_engine(_url(pg_app))
    try:
        with engine.connect() as conn:
            ids = [int(i) for i in conn.scalars(select(Item.id))]
            orm = conn.execute(
                select(
                    Item.id,
                    Item.section,
                    Item.headline,
                    Item.title,
                    Item.url,
                    Item.summary,
                    Item.pick,
                    Issue.key,
                    Paper.identity,
                )
                .join(Issue, Issue.id == Item.issue_id)
                .outerjoin(Paper, Paper.id == Item.paper_id)
            ).all()
            mine = search_pg.hit_rows(conn, ids)
            assert sorted(mine) == sorted(tuple(r) for r in orm)
            assert any(r[6] for r in mine) and any(r[8] for r in mine)  # picks, papers
            assert search_pg.hit_rows(conn, []) == []
            assert {r[0] for r in search_pg.hit_rows(conn, ids[:2])} == set(ids[:2])
    finally:
        engine.dispose()


async def test_the_stem_vocabulary_statement_also_looks_up_the_ranking(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query with stem forms: one statement reads the forms and what the ranking looks up
    (counts, lists, prefixes, statistics); the ranking is the one of a separate look-up."""
    await store(pg_app, RARE, IDS)
    lookups = _spy(monkeypatch, "_lookup")
    kept = await _heads(pg_app, "wavelets pruned")
    assert len(lookups) == 1 and lookups[0].vocabulary  # the forms came with the counts
    assert {t for _, t in lookups[0].vocabulary} >= {"wavelet", "pruning"}
    lookups.clear()
    monkeypatch.setattr(search_pg._Lookup, "covers", lambda *_: False)
    assert await _heads(pg_app, "wavelets pruned") == kept != []
    assert len(lookups) == 2  # looked up again, as before
    assert lookups[0].known == lookups[1].known | lookups[0].known
    assert lookups[0].rows == lookups[1].rows and lookups[0].avgdl == lookups[1].avgdl


async def test_the_idf_counts_of_several_phrases_take_one_statement(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(pg_app, RARE, weekly("2023-W08", [item(1, "Pruned wavelets", arxiv="2302.00004")]))
    statements: list[str] = []
    run = search_pg._all

    def recorded(conn: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        statements.append(sql)
        return run(conn, sql, params)

    monkeypatch.setattr(search_pg, "_all", recorded)
    heads = await _heads(pg_app, "wavel prun")  # two prefixes of two index words each
    assert len(heads) == 4
    counting = [s for s in statements if "count(*)" in s]
    assert len(counting) == 1 and counting[0].count("count(*)") == 2
    engine = create_engine(_url(pg_app))
    try:
        with engine.connect() as conn:
            looked_up = search_pg._lookup(conn, {"wavel", "prun"}, ["prun", "wavel"])
            phrases = [Phrase(("wavel",), True), Phrase(("prun",), True)]
            docs = {p: 100 for p in phrases}  # estimates: only counts may replace them
            counted = search_pg._exact_counts(conn, phrases, docs, looked_up.expansions, True, None)
            assert counted == {phrases[0]: 4, phrases[1]: 4}  # wavelet(s), prune(d|ing)
            assert search_pg._exact_counts(conn, phrases, docs, looked_up.expansions, False) == docs
    finally:
        engine.dispose()
