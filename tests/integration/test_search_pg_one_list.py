"""A query of one word with an impact list is ranked from the list alone on PostgreSQL
(``search_pg._one_list``): the weighted frequency comes back exactly from each impact, and
the ranking (with filters too) is the one of scoring every match from the token texts.

Short lists (a word in 15 items gets one of 40) on the generated archive of the parity tests,
so that lists are read, trimmed and bounded. The PostgreSQL tests use the local service like
test_search_postgres (skipped when absent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.domain.model import SearchFilters
from bot.store import search_pg, search_pg_index
from bot.store.migrate import upgrade
from bot.store.search_rank import K1, B, ItemText, Phrase
from tests.builders import item, store, weekly
from tests.integration.test_search_parity import generated

pytestmark = pytest.mark.postgres

ONE_WORD = ("模型", "剪枝", "学习", "attention", "sparse", "data", "image", "pruning", "training")
FILTERS = (SearchFilters(), SearchFilters(picks_only=True), SearchFilters(section="papers"))


@pytest.fixture
async def lists_app(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Container]:
    monkeypatch.setattr(search_pg_index, "LISTED", 15)
    monkeypatch.setattr(search_pg_index, "LIST_LENGTH", 40)
    monkeypatch.setattr(search_pg_index, "TRIM_SLACK", 10)
    upgrade(pg_url)
    app = build(load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    try:
        for issue in generated():  # one by one: lists made, grown and trimmed on the way
            await store(app, issue)
        yield app
    finally:
        await app.aclose()


def _url(app: Container) -> str:
    return str(app.settings.database_url).replace("postgresql:", "postgresql+psycopg:")


async def test_an_impact_gives_back_the_exact_weighted_frequency(lists_app: Container) -> None:
    engine = create_engine(_url(lists_app))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT l.term, l.impact, t.ref_length, d.length, d.tok_headline, "
                    "d.tok_title, d.tok_summary, d.tok_url FROM items_short_pg_impacts l "
                    "JOIN items_short_pg_terms t ON t.term = l.term "
                    "JOIN items_short_pg d ON d.item_id = l.item_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert len({r[0] for r in rows}) >= 5 and len(rows) > 200
    for term, impact, ref, length, *joined in rows:
        at_ref = K1 * ((1.0 - B) + ((B * length) / ref))
        freq = round(impact * at_ref / ((K1 + 1.0) - impact) * 2.0) / 2.0
        assert freq == Phrase((term,), False).freq(ItemText(length, tuple(joined))), term
        assert abs(impact * at_ref / ((K1 + 1.0) - impact) - freq) < 1e-9


async def test_one_word_is_ranked_from_its_list_as_from_every_match(
    lists_app: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_pg, "EXACT_MAX", 0)  # the lists' path, whatever the matches
    decided: list[Any] = []
    one_list = search_pg._one_list

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = one_list(*args, **kwargs)
        decided.append(found is not None)
        return found

    monkeypatch.setattr(search_pg, "_one_list", spy)
    from_lists: dict[tuple[str, int], list[str]] = {}
    for query in ONE_WORD:
        for n, filters in enumerate(FILTERS):
            found = await lists_app.archive.search(query, limit=10, filters=filters)
            from_lists[query, n] = [h.headline for h in found.hits]
    assert len(decided) >= 5 * len(FILTERS)  # (a word with stem forms is several phrases)
    assert sum(decided) >= len(decided) // 2, decided  # the lists decided most
    monkeypatch.setattr(search_pg, "_threshold", lambda *_: None)  # every match scored
    for (query, n), heads in from_lists.items():
        found = await lists_app.archive.search(query, limit=10, filters=FILTERS[n])
        assert [h.headline for h in found.hits] == heads, (query, FILTERS[n])
    assert any(heads for heads in from_lists.values())


async def test_rare_forms_left_unread_when_a_listed_word_decides(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefix of many rare words next to a listed word every match holds (point cloud at
    100,000 items: "point"* has sixteen rare forms): too many rare items to read, so they
    are left unread, bounded at the most a phrase can weigh, and the listed word's list
    decides; the ranking is the one of scoring every match."""
    monkeypatch.setattr(search_pg_index, "LISTED", 15)
    monkeypatch.setattr(search_pg_index, "LIST_LENGTH", 40)
    monkeypatch.setattr(search_pg, "EXACT_MAX", 0)
    monkeypatch.setattr(search_pg, "CHEAP", 20)
    upgrade(pg_url)
    app = build(load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    forms = [f"point{c}" for c in "abcdefghijklmnopqrstuvwxyz"]  # 3 items each: 78
    issues = [
        weekly(
            f"2022-W{week:02d}",
            [
                item(pos, headline, arxiv=f"2201.{week:02d}{pos:03d}")
                for pos, headline in enumerate(batch, start=1)
            ],
        )
        for week, batch in enumerate(
            [
                [f"Cloud {f} {'cloud ' * (n % 3)}notes" for n, f in enumerate(forms[:16])],
                [f"{f} study {n}" for n, f in enumerate(forms * 3)][16:],
                [f"filler {n}" for n in range(40)],
            ],
            start=1,
        )
    ]
    decided: list[Any] = []
    rare_rows: list[Any] = []
    threshold, read_rare = search_pg._threshold, search_pg._rare_rows

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = threshold(*args, **kwargs)
        decided.append(found)
        return found

    def counted(*args: Any, **kwargs: Any) -> Any:
        rare_rows.append(args)
        return read_rare(*args, **kwargs)

    try:
        for issue in issues:
            await store(app, issue)
        monkeypatch.setattr(search_pg, "_threshold", spy)
        monkeypatch.setattr(search_pg, "_rare_rows", counted)
        from_lists = await _heads(app, "point cloud")
        assert len(from_lists) == 3 and decided and decided[0] is not None and rare_rows == []
        monkeypatch.setattr(search_pg, "_threshold", lambda *_: None)  # every match scored
        assert await _heads(app, "point cloud") == from_lists
    finally:
        await app.aclose()


async def _heads(app: Container, query: str) -> list[str]:
    return [h.headline for h in (await app.archive.search(query, limit=3)).hits]
