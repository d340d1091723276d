"""Browsing: this week's picks and drip, any week with its neighbours, the newest issue, recent
picks, search pages past the first 100 results; each call in at most three queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import Container
from bot.services.archive import UnknownIssue
from bot.services.browse import Entry, week_candidates
from bot.store.models import Delivery, Post
from tests.builders import item, monthly, store, weekly

# the app fixture's clock: Monday 2026-03-02 08:00 UTC (17:00 in Tokyo, the default time zone),
# ISO week 2026-W10 there: 2026-03-01 15:00 UTC .. 2026-03-08 15:00 UTC


@contextmanager
def counted(app: Container) -> Iterator[list[str]]:
    """The SQL statements run on either engine while inside."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engines = (app.engine.sync_engine, app.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def archive(app: Container) -> None:
    await store(
        app,
        weekly(
            "2026-W07",
            [
                item(1, "Sparse experts route tokens", arxiv="2602.00071", pick=True),
                item(2, "A survey of agents", arxiv="2602.00072"),
            ],
        ),
        weekly(
            "2026-W08",
            [
                item(1, "Diffusion for tables", arxiv="2602.00081"),
                item(2, "Pruned transformers stay accurate", arxiv="2602.00082", pick=True),
                item(3, "Wavelets shrink models", arxiv="2602.00083", pick=True),
            ],
        ),
        weekly(
            "2026-W09",
            [
                item(1, "Small models reason", arxiv="2602.00091", pick=True, title="Tiny"),
                item(2, "Robots fold laundry", arxiv="2602.00092"),
                item(3, "Long context <b>&</b> memory", arxiv="2602.00093"),
            ],
        ),
        replace(  # the Chinese translation, imported after the English original
            weekly(
                "2026-W09",
                [
                    item(1, "小模型也会推理", arxiv="2602.00091", pick=True),
                    item(2, "机器人叠衣服", arxiv="2602.00092"),
                ],
                url="https://zhuanlan.zhihu.com/p/2026w09",
            ),
            language="zh",
        ),
        monthly(  # a round-up repeating a pick of its weeks
            "2026-02",
            [item(1, "Wavelets shrink models (again)", arxiv="2602.00083", pick=True)],
        ),
    )


async def mark_sent(
    app: Container, post_id: int, at: datetime, *, delivery: str = "sent", slot: datetime
) -> None:
    async with app.sessions.begin() as session:
        post = await session.get_one(Post, post_id)
        post.state, post.slot = "sent", slot
        session.add(
            Delivery(
                post_id=post_id,
                destination="telegram:channel",
                state=delivery,
                attempts=1,
                due_at=slot,
                sent_at=at if delivery == "sent" else None,
                updated_at=at,
            )
        )


async def paper_posts(app: Container) -> dict[str, int]:
    async with app.sessions() as session:
        rows = await session.execute(
            select(Post.url, Post.id).where(Post.kind == "paper").order_by(Post.id)
        )
        return {url.rsplit("/", 1)[-1]: post_id for url, post_id in rows}


def test_week_keys_as_people_type_them() -> None:
    assert week_candidates("2020-39") == ["2020-W39"]
    assert week_candidates("2020-W39") == ["2020-W39"]
    assert week_candidates(" 2020-w39 ") == ["2020-W39"]
    assert week_candidates("2020-9") == ["2020-W09", "2020-09"]  # week 9, else September
    for bad in ("", "next week", "<script>", "2020-99", "x" * 5000):
        with pytest.raises(UnknownIssue):
            week_candidates(bad)


async def test_this_week_shows_latest_picks_and_what_was_dripped(app: Container) -> None:
    await archive(app)
    await app.queue.enqueue_issues(["2026-W08", "2026-W09"])
    posts = await paper_posts(app)
    monday = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # Monday 00:00 in Tokyo
    await mark_sent(app, posts["2602.00092"], monday + timedelta(hours=1), slot=monday)
    await mark_sent(  # slotted on Sunday evening, sent just after midnight: this week
        app,
        posts["2602.00091"],
        monday + timedelta(minutes=2),
        slot=monday - timedelta(minutes=5),
    )
    last_week = monday - timedelta(hours=3)
    await mark_sent(app, posts["2602.00081"], last_week, slot=last_week)
    await mark_sent(  # released this week but nothing sent yet
        app, posts["2602.00082"], monday, delivery="failed", slot=monday
    )
    with counted(app) as statements:
        view = await app.browse.week()
    assert len(statements) <= 3
    assert (view.key, view.title, view.prev_key, view.next_key) == (
        "2026-W09",
        "ML news 2026-W09",
        "2026-W08",
        None,
    )
    assert view.url == "https://medium.com/@demo/ml-news-2026-w09"
    assert view.picks == [
        Entry("Small models reason", "Tiny", arxiv("2602.00091"), "2026-W09", True)
    ]
    assert view.dripped == [
        Entry("Small models reason", "Tiny", arxiv("2602.00091"), "2026-W09", True),
        Entry("Robots fold laundry", None, arxiv("2602.00092"), "2026-W09", False),
    ]


def arxiv(identifier: str) -> str:
    return f"https://arxiv.org/abs/{identifier}"


async def test_any_week_with_neighbours_in_any_spelling(app: Container) -> None:
    await archive(app)
    for key in ("2026-8", "2026-W08", "2026-w08", "2026-08"):
        view = await app.browse.week(key)
        assert (view.key, view.prev_key, view.next_key) == ("2026-W08", "2026-W07", "2026-W09")
        assert [p.headline for p in view.picks] == [
            "Pruned transformers stay accurate",
            "Wavelets shrink models",
        ]
        assert view.dripped == []  # an older week: no "dripped this week"
    first = await app.browse.week("2026-W07")
    assert (first.prev_key, first.next_key) == (None, "2026-W08")


async def test_week_in_the_first_imported_or_the_asked_language(app: Container) -> None:
    await archive(app)
    english = await app.browse.week("2026-W09")
    assert (english.language, english.picks[0].headline) == ("en", "Small models reason")
    chinese = await app.browse.week("2026-W09", language="zh")
    assert (chinese.language, chinese.picks[0].headline) == ("zh", "小模型也会推理")
    assert chinese.url == "https://zhuanlan.zhihu.com/p/2026w09"
    assert chinese.prev_key == "2026-W08"
    fallback = await app.browse.week("2026-W08", language="zh")  # no translation: English
    assert fallback.language == "en"


async def test_a_month_key_without_that_week_opens_the_monthly_issue(app: Container) -> None:
    await archive(app)
    view = await app.browse.week("2026-02")  # no week 2 in the archive
    assert view.key == "2026-02"
    assert [p.headline for p in view.picks] == ["Wavelets shrink models (again)"]


async def test_unknown_weeks_raise_unknown_issue(app: Container) -> None:
    with pytest.raises(UnknownIssue):
        await app.browse.week()  # empty archive
    await archive(app)
    with pytest.raises(UnknownIssue, match="2020-W39"):
        await app.browse.week("2020-39")
    with pytest.raises(UnknownIssue):
        await app.browse.week("'; DROP TABLE issues; --")


async def test_latest_is_the_newest_issue_weekly_or_monthly(app: Container) -> None:
    assert await app.browse.latest() is None
    await archive(app)
    with counted(app) as statements:
        latest = await app.browse.latest()
    assert len(statements) <= 3
    assert latest is not None and latest.key == "2026-W09" and latest.url
    await store(app, monthly("2026-03", [item(1, "March pick", arxiv="2603.00001", pick=True)]))
    latest = await app.browse.latest(language="zh")
    assert latest is not None
    assert (latest.key, latest.url) == ("2026-03", "https://medium.com/@demo/ml-news-2026-03")
    assert [p.headline for p in latest.picks] == ["March pick"]


async def test_recent_picks_newest_first_once_each(app: Container) -> None:
    assert await app.browse.recent_picks() == []
    await archive(app)
    with counted(app) as statements:
        picks = await app.browse.recent_picks(limit=10)
    assert len(statements) == 1
    assert [(p.headline, p.issue) for p in picks] == [
        ("Small models reason", "2026-W09"),  # the first imported language only
        ("Wavelets shrink models (again)", "2026-02"),  # the round-up repeats W08's pick
        ("Pruned transformers stay accurate", "2026-W08"),
        ("Sparse experts route tokens", "2026-W07"),
    ]
    assert all(p.pick for p in picks) and len(picks) == 4
    assert [p.headline for p in await app.browse.recent_picks(limit=2)] == [
        "Small models reason",
        "Wavelets shrink models (again)",
    ]
    chinese = await app.browse.recent_picks(limit=1, language="zh")
    assert [p.headline for p in chinese] == ["小模型也会推理"]


async def big_archive(app: Container, weeks: int = 13, per_week: int = 10) -> set[str]:
    issues = []
    for w in range(1, weeks + 1):
        items = [
            item(i, f"Model {w}-{i} learns", arxiv=f"2601.{w:02d}{i:03d}", pick=i == 1)
            for i in range(1, per_week + 1)
        ]
        issues.append(weekly(f"2025-W{w:02d}", items))
    await store(app, *issues)
    return {f"Model {w}-{i} learns" for w in range(1, weeks + 1) for i in range(1, per_week + 1)}


@pytest.mark.parametrize("per_page", [5, 7, 50])
async def test_search_pages_through_all_results_past_100(app: Container, per_page: int) -> None:
    expected = await big_archive(app)
    assert len(expected) == 130
    seen: list[str] = []
    page = 1
    while True:
        result = await app.browse.search_page("model", page, per_page)
        assert result.page == page and result.per_page == per_page
        assert result.has_prev == (page > 1)
        assert not result.relaxed
        assert len(result.hits) == (per_page if result.has_next else 130 - len(seen))
        seen += [h.headline for h in result.hits]
        if not result.has_next:
            break
        page += 1
    assert len(seen) == 130 and set(seen) == expected  # every result once, none twice
    assert page == -(-130 // per_page)
    past = await app.browse.search_page("model", page + 1, per_page)
    assert past.hits == [] and not past.has_next and past.has_prev and not past.relaxed


async def test_has_next_is_exact_at_a_full_last_page(app: Container) -> None:
    await big_archive(app, weeks=1, per_week=10)
    first = await app.browse.search_page("model", 1, 5)
    second = await app.browse.search_page("model", 2, 5)
    assert first.has_next and len(second.hits) == 5 and not second.has_next
    assert not {h.headline for h in first.hits} & {h.headline for h in second.hits}


async def test_relaxed_search_pages_say_so(app: Container) -> None:
    await big_archive(app, weeks=3, per_week=4)
    first = await app.browse.search_page("model zyxwv", 1, 5)
    assert first.relaxed and len(first.hits) == 5 and first.has_next
    third = await app.browse.search_page("model zyxwv", 3, 5)
    assert third.relaxed and len(third.hits) == 2 and not third.has_next
    # a strict query's page past the end is empty, not the relaxed results
    only = await app.browse.search_page("model 3-4", 1, 5)
    assert [h.headline for h in only.hits] == ["Model 3-4 learns"] and not only.relaxed
    strict = await app.browse.search_page("model 3-4", 2, 5)
    assert strict.hits == [] and not strict.relaxed


async def test_search_pages_in_chinese_and_with_hostile_input(app: Container) -> None:
    await archive(app)
    page = await app.browse.search_page("模型", 1, 5)
    assert [h.headline for h in page.hits] == ["小模型也会推理"]
    assert (page.has_prev, page.has_next) == (False, False)
    for text in ('"; DROP TABLE items; --', "NEAR(a b", "*", "\u202e<b>&amp;", "🤖" * 50):
        result = await app.browse.search_page(text, 1, 5)
        assert result.page == 1
    forged = await app.browse.search_page("models", 10**12, 10**6)  # clamped, never an error
    assert forged.hits == [] and forged.per_page <= 50
    negative = await app.browse.search_page("models", -3, 0)
    assert (negative.page, negative.per_page) == (1, 1)
