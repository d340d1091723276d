"""The trigram top-up (in-word substring matches after the word matches) and the word-index
proof that skips it: an id such as ``2301.12345`` found inside a text has a word starting
with its last piece, so when the items of that word are all found already (or cannot hold
the term), the trigram index is not read (``search_sqlite._nothing_to_top_up``)."""

from __future__ import annotations

import pytest

from bot.app import Container
from bot.store import search_sqlite
from tests.builders import item, store, weekly

SQLITE = pytest.mark.sqlite_only("counts reads of SQLite's trigram index (FTS5)")


def _issue() -> list[object]:
    return [
        weekly(
            "2023-W05",
            [
                item(1, "Sparse experts at scale", arxiv="2301.12345"),
                item(2, "Another id with the same tail", arxiv="2209.12345"),
                item(3, "Tail as a word start", url="https://example.org/12345abc"),
            ],
        ),
        weekly(
            "2023-W06",
            [
                item(1, "Cited inside a word", summary="see ref x2301.12345y for the code"),
                item(2, "Unrelated", summary="nothing to see"),
            ],
        ),
    ]


async def test_an_id_inside_a_word_is_still_found(app: Container) -> None:
    await store(app, *_issue())  # type: ignore[arg-type]
    heads = [h.headline for h in (await app.archive.search("2301.12345")).hits]
    assert heads[0] == "Sparse experts at scale"  # the word match first
    assert "Cited inside a word" in heads  # then the trigram top-up
    assert "Another id with the same tail" not in heads
    assert "Unrelated" not in heads


@SQLITE
async def test_the_trigram_index_is_not_read_when_the_words_prove_it_empty(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(app, *_issue()[:1])  # type: ignore[arg-type]
    tables: list[str] = []
    top = search_sqlite._fts_top

    def counting(conn: object, table: str, *args: object, **kwargs: object) -> list[int]:
        tables.append(table)
        return top(conn, table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search_sqlite, "_fts_top", counting)
    heads = [h.headline for h in (await app.archive.search("2301.12345")).hits]
    assert heads == ["Sparse experts at scale"]
    assert "items_fts" not in tables  # "2209.12345" shares the tail but not the id: proven
    tables.clear()
    await app.archive.search("experts")  # one word: it may sit inside another, read as before
    assert "items_fts" in tables


@SQLITE
async def test_the_proof_fails_when_another_item_holds_the_term(
    app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store(app, *_issue())  # type: ignore[arg-type]
    tables: list[str] = []
    top = search_sqlite._fts_top

    def counting(conn: object, table: str, *args: object, **kwargs: object) -> list[int]:
        tables.append(table)
        return top(conn, table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search_sqlite, "_fts_top", counting)
    heads = [h.headline for h in (await app.archive.search("2301.12345")).hits]
    assert "items_fts" in tables
    assert "Cited inside a word" in heads


@pytest.mark.parametrize(
    ("edge", "anchor"),
    [
        ("2301.12345", "12345"),
        ("self-supervised", "supervised"),
        ("x.Y9", "y9"),
        ("model", None),  # one word: it may sit inside any longer word
        ("a.b_c", None),  # an underscore is part of a word for the index text
        ("c++", None),
        ("ab.é", None),  # not ASCII
    ],
)
def test_anchor(edge: str, anchor: str | None) -> None:
    assert search_sqlite.anchor_word(edge) == anchor


def test_may_hold_is_careful_with_folding() -> None:
    assert search_sqlite.may_hold(("nothing", None, "here"), "2301.12345") is False
    assert search_sqlite.may_hold(("ID 2301.12345X",), "2301.12345") is True
    assert search_sqlite.may_hold(("模型 2301.\u212a",), "2301.k") is True  # Kelvin sign
    assert search_sqlite.may_hold(("2301.\u0130",), "2301.i") is True  # İ: lower() is i + dot
    assert search_sqlite.may_hold(("模型 训练",), "2301.k") is False
