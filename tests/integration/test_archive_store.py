"""Archive repository and search on a real migrated SQLite database."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest

from bot.app import Container
from bot.domain.model import ParsedIssue, ParsedItem, SearchFilters
from bot.domain.search import QueryTooLong


def _item(
    pos: int,
    headline: str,
    *,
    paper: str | None = None,
    section: str = "papers",
    summary: str = "",
    title: str | None = None,
    pick: bool = False,
) -> ParsedItem:
    url = f"https://arxiv.org/abs/{paper.split(':')[1]}" if paper else None
    return ParsedItem(pos, section, headline, title, url, paper, summary, (), pick)  # type: ignore[arg-type]


def _issue(key: str, items: list[ParsedItem], year: int = 2020) -> ParsedIssue:
    return ParsedIssue(
        key=key,
        kind="weekly",
        year=year,
        week=int(key[-2:]),
        month=None,
        title=f"News {key}",
        url=f"https://medium.com/x/{key}",
        start=date(year, 1, 6),
        end=date(year, 1, 12),
        items=tuple(items),
        picks=tuple(i.paper for i in items if i.pick and i.paper),
        warnings=("item 'x' has no link",),
    )


W39 = _issue(
    "2020-W39",
    [
        _item(
            1,
            "使用小波变换减小 BigGAN 的大小",
            paper="arxiv:2009.04433",
            summary="只用低频信息生成图像，再用网络补回高频。",
            pick=True,
        ),
        _item(
            2,
            "通过将过滤器分成块来修剪",
            paper="arxiv:2009.05697",
            summary="分块剪枝方法在移动设备上实现实时检测。",
        ),
        _item(
            3,
            "Transformer survey",
            paper="arxiv:2009.06732",
            section="articles",
            summary="An overview of efficient transformer variants and attention patterns.",
            title="Efficient Transformers: A Survey",
        ),
        _item(4, "AI helps judges", section="use_cases", summary="Risk scores & bail <decisions>."),
    ],
)


async def _store(app: Container, *issues: ParsedIssue) -> list[str]:
    from bot.store import archive as repo

    outcomes = []
    for issue in issues:
        async with app.sessions.begin() as session:
            outcomes.append(
                await session.run_sync(
                    repo.upsert_issue, issue, source="t", digest=str(hash(issue)), now=app.clock()
                )
            )
    return outcomes


async def test_upsert_is_idempotent_and_updates_in_place(app: Container) -> None:
    assert await _store(app, W39) == ["added"]
    assert await _store(app, W39) == ["unchanged"]
    changed = replace(W39, items=W39.items[:2], title="Renamed")
    assert await _store(app, changed) == ["updated"]
    rows = await app.archive.issues()
    assert [(r.key, r.items, r.title) for r in rows] == [("2020-W39", 2, "Renamed")]
    # the search index follows the update: the removed item is gone
    assert (await app.archive.search("transformer")).hits == []
    assert len((await app.archive.search("剪枝")).hits) == 1


async def test_same_paper_in_two_issues_is_one_paper(app: Container) -> None:
    monthly = replace(_issue("2020-09", [W39.items[0]]), kind="monthly", week=None, month=9)
    await _store(app, W39, monthly)
    a = await app.archive.issue("2020-W39")
    b = await app.archive.issue("2020-09")
    assert a.items[0].paper == b.items[0].paper == "arxiv:2009.04433"
    from sqlalchemy import func, select

    from bot.store.models import Paper

    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Paper)) == 3


@pytest.mark.parametrize(
    ("query", "headline"),
    [
        ("剪枝", "通过将过滤器分成块来修剪"),  # two CJK characters: short index
        ("小波", "使用小波变换减小 BigGAN 的大小"),
        ("波", "使用小波变换减小 BigGAN 的大小"),  # one character
        ("小波变换", "使用小波变换减小 BigGAN 的大小"),  # trigram
        ("transform", "Transformer survey"),  # substring of a word
        ("AI", "AI helps judges"),  # two Latin letters
        ("biggan", "使用小波变换减小 BigGAN 的大小"),
        ("2009.05697", "通过将过滤器分成块来修剪"),  # the link is indexed too
        ("iggan", "使用小波变换减小 BigGAN 的大小"),  # inside a word: the trigram fallback
        ("小波变换减小", "使用小波变换减小 BigGAN 的大小"),  # a long CJK phrase (bigram phrase)
    ],
)
async def test_search_finds_chinese_and_english(app: Container, query: str, headline: str) -> None:
    await _store(app, W39)
    result = await app.archive.search(query)
    assert result.hits, query
    assert result.hits[0].headline == headline
    assert result.hits[0].issue == "2020-W39"


async def test_search_snippet_highlights_and_ranks_headline_first(app: Container) -> None:
    await _store(app, W39)
    hits = (await app.archive.search("transformer")).hits
    assert hits[0].headline == "Transformer survey"
    assert "«transformer»" in hits[0].snippet.lower()
    assert hits[0].title == "Efficient Transformers: A Survey"


async def test_filters(app: Container) -> None:
    other_year = _issue("2021-W02", [_item(1, "小波 again", paper="arxiv:2101.00001")], year=2021)
    await _store(app, W39, other_year)
    assert {h.issue for h in (await app.archive.search("小波")).hits} == {"2020-W39", "2021-W02"}
    by_year = await app.archive.search("小波", filters=SearchFilters(year=2021))
    assert [h.issue for h in by_year.hits] == ["2021-W02"]
    picks = await app.archive.search("小波", filters=SearchFilters(picks_only=True))
    assert [h.pick for h in picks.hits] == [True]
    arts = await app.archive.search("survey", filters=SearchFilters(section="articles"))
    assert [h.section for h in arts.hits] == ["articles"]
    assert (await app.archive.search("survey", filters=SearchFilters(section="papers"))).hits == []


HOSTILE = [
    '"',
    "AND",
    "foo(",
    "need:",
    "*",
    "NEAR(",
    "NEAR(a b)",
    "'",
    "''",
    "a OR b",
    "x' OR 1=1 --",
    "); DROP TABLE items; --",
    "^",
    "-",
    "\\",
    "🙂",
    "\x00",
    "   ",
    "",
    "col:val",
    '"unterminated',
    "a AND",
    "NOT",
    "(",
    ")",
    "{a b}",
    "+",
    "小",
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_never_error(app: Container, query: str) -> None:
    await _store(app, W39)
    result = await app.archive.search(query)
    assert isinstance(result.hits, list)
    assert len(await app.archive.issues()) == 1  # nothing was dropped


async def test_random_garbage_queries_never_error(app: Container) -> None:
    await _store(app, W39)
    rng = random.Random(7)
    alphabet = "\"*()^:-+'{}[]ANDORNEAR小波 剪枝abc\\;"
    found = 0
    for _ in range(300):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        result = await app.archive.search(query)
        assert {hit.issue for hit in result.hits} <= {"2020-W39"}
        found += bool(result.hits)
    assert found > 0  # some garbage contains 小波 or 剪枝: the search really ran
    assert (await app.archive.search("小波")).hits  # and still works afterwards


async def test_long_queries_are_refused_clearly(app: Container) -> None:
    with pytest.raises(QueryTooLong, match="query too long: 10000 characters"):
        await app.archive.search("x" * 10_000)
