"""The PostgreSQL search's shortcuts change no result: statements run on the psycopg
connection itself keep their parameters and literals, and a prefix that covers one index word
is searched as that word (and only then). (Ranking parity with SQLite, on the scoring
statements too: tests/integration/test_search_parity.py.)

The PostgreSQL tests use the local service like test_search_postgres (skipped when absent)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import Container
from bot.domain.search import build_query
from bot.store import search_pg
from tests.builders import item, store, weekly


def test_statements_keep_their_literals_and_casts() -> None:
    sql = "SELECT :a, CAST(:b_2 AS text[]), x::int FROM t WHERE y LIKE '50%' AND z = :a"
    assert search_pg.dbapi_sql(sql) == (
        "SELECT %(a)s, CAST(%(b_2)s AS text[]), x::int FROM t WHERE y LIKE '50%%' AND z = %(a)s"
    )


def test_a_prefix_of_one_index_word_is_written_as_that_word() -> None:
    query = build_query("transf", 200)
    assert search_pg.ts_query(query, {}) == "'transf':*"
    assert search_pg.ts_query(query, {}, sole={"transf": "transformers"}) == "'transformers'"
    two = build_query("meta-learn", 200)  # two prefixes: only the one of one word changes
    assert search_pg.ts_query(two, {}, sole={"learn": "learning"}) == "('meta':* & 'learning')"


ISSUE = weekly(
    "2024-W20",
    [
        item(1, "Transformers for tables", arxiv="2405.00001"),
        item(2, "Pruning filters block by block", arxiv="2405.00002"),
        item(3, "Heads pruned after training", arxiv="2405.00003", summary="prune them all"),
        item(4, "Sparse mixtures", arxiv="2405.00004", summary="transformers, sparse ones"),
        *[
            item(10 + n, f"Note {n} on pruning", arxiv=f"2405.{100 + n:05d}", summary="pruning")
            for n in range(12)
        ],
    ],
)


@pytest.fixture
async def pg_app(pg_app: Container) -> Container:
    """conftest's PostgreSQL container with ISSUE stored."""
    await store(pg_app, ISSUE)
    return pg_app


@pytest.mark.postgres
async def test_one_word_prefixes_search_that_word_only(
    pg_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = search_pg._all
    queries: list[str] = []

    def recorded(conn: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        queries.extend(v for k, v in params.items() if k in ("q", "conj") and isinstance(v, str))
        return run(conn, sql, params)

    monkeypatch.setattr(search_pg, "_all", recorded)
    hits = [h.headline for h in (await pg_app.archive.search("transf")).hits]
    assert hits == ["Transformers for tables", "Sparse mixtures"]  # headline beats summary
    assert queries and all(":*" not in q for q in queries)  # only "transformers" starts so
    queries.clear()
    found = {h.headline for h in (await pg_app.archive.search("prun", limit=20)).hits}
    assert len(found) == 14  # prune, pruned, pruning: every item but the two without them
    assert any(":*" in q for q in queries)  # three words: still a prefix
