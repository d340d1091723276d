"""Search finds what people type: English stems and the any-word fallback (SQLite FTS5)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.app import Container
from bot.domain.model import SearchFilters
from bot.store.archive import upsert_issue
from tests.builders import item, store, weekly

ISSUE = weekly(
    "2024-W12",
    [
        item(
            1,
            "Sparse mixtures make big models cheap",
            arxiv="2101.03961",
            title="Switch Transformers: scaling with simple sparsity",
            summary="Each token is routed to a single expert.",
        ),
        item(2, "Pruning filters block by block", arxiv="2009.05697", summary="剪枝方法"),
        item(3, "Heads pruned after training", arxiv="2305.00001"),
        item(4, "A transformer survey", arxiv="2009.06732", section="articles"),
        item(5, "使用小波变换减小 BigGAN 的大小", arxiv="2009.04433"),
        item(6, "PruneBERT, a model name", arxiv="2401.00006"),
    ],
)


@pytest.fixture
async def archive(app: Container) -> Container:
    await store(app, ISSUE)
    return app


async def headlines(app: Container, query: str) -> list[str]:
    return [h.headline for h in (await app.archive.search(query)).hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sparse experts", {"Sparse mixtures make big models cheap"}),  # the text says expert
        ("expert", {"Sparse mixtures make big models cheap"}),
        ("pruned", {"Pruning filters block by block", "Heads pruned after training"}),
        ("pruning", {"Pruning filters block by block", "Heads pruned after training"}),
        (  # words are also prefixes, as before: prune finds PruneBERT, pruned does not
            "prune",
            {
                "Pruning filters block by block",
                "Heads pruned after training",
                "PruneBERT, a model name",
            },
        ),
    ],
)
async def test_words_match_their_other_forms(
    archive: Container, query: str, expected: set[str]
) -> None:
    assert set(await headlines(archive, query)) == expected  # stems, not prefixes of stems


async def test_plural_finds_what_the_singular_finds(archive: Container) -> None:
    singular = set(await headlines(archive, "transformer"))
    assert singular == {"A transformer survey", "Sparse mixtures make big models cheap"}
    assert set(await headlines(archive, "transformers")) == singular
    assert set(await headlines(archive, "Transformers")) == singular


async def test_other_forms_are_highlighted(archive: Container) -> None:
    [hit] = (await archive.archive.search("experts")).hits
    assert "«expert»" in hit.snippet
    assert not (await archive.archive.search("experts")).relaxed


async def test_chinese_is_unchanged(archive: Container) -> None:
    assert await headlines(archive, "剪枝") == ["Pruning filters block by block"]
    assert await headlines(archive, "小波变换") == ["使用小波变换减小 BigGAN 的大小"]


async def test_no_item_with_every_word_falls_back_to_any_word(archive: Container) -> None:
    result = await archive.archive.search("pruning zebra giraffe")
    assert result.relaxed
    assert {h.headline for h in result.hits} == {
        "Pruning filters block by block",
        "Heads pruned after training",
    }


async def test_fallback_ranks_items_with_more_words_first(archive: Container) -> None:
    result = await archive.archive.search("heads pruned zebra")
    assert result.relaxed
    assert [h.headline for h in result.hits][:2] == [
        "Heads pruned after training",
        "Pruning filters block by block",
    ]


async def test_fallback_only_when_needed(archive: Container) -> None:
    both = await archive.archive.search("pruned heads")
    assert not both.relaxed and [h.headline for h in both.hits] == ["Heads pruned after training"]
    nothing = await archive.archive.search("zebra giraffe")
    assert not nothing.relaxed and nothing.hits == []
    single = await archive.archive.search("zebra")
    assert not single.relaxed and single.hits == []


async def test_fallback_keeps_the_filters(archive: Container) -> None:
    result = await archive.archive.search(
        "transformer zebra", filters=SearchFilters(section="articles")
    )
    assert result.relaxed
    assert [h.headline for h in result.hits] == ["A transformer survey"]


async def test_a_leading_dash_is_text(archive: Container) -> None:
    assert await headlines(archive, "-gan") == ["使用小波变换减小 BigGAN 的大小"]


async def test_words_added_later_are_found(app: Container) -> None:
    """The stem forms a connection remembers are forgotten when the database changes, whether
    another connection (the async engine) or the searching one (the sync engine) wrote."""
    pruned = item(1, "Heads pruned after training", arxiv="2305.00001")
    await store(app, weekly("2024-W10", [pruned]))
    assert await headlines(app, "pruned") == ["Heads pruned after training"]
    await store(app, weekly("2024-W11", [item(1, "Pruning filters", arxiv="2009.05697")]))
    assert set(await headlines(app, "pruned")) == {"Heads pruned after training", "Pruning filters"}
    later = weekly("2024-W12", [item(1, "Prunes the heads", arxiv="2401.00001")])
    with Session(app.sync_engine) as session, session.begin():
        upsert_issue(session, later, source=None, digest="w12", now=app.clock())
    assert len(await headlines(app, "pruning")) == 3
