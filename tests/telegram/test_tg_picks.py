"""/picks reads the newest issues of each kind first; when they hold too few picks it reads
every issue, and the answer is the same either way."""

from __future__ import annotations

from sqlalchemy import event

from bot.app import Container
from bot.store import browse as repo
from tests.builders import item, monthly, store, weekly
from tests.telegram.conftest import Harness

PICKS = 10  # what /picks asks for
WINDOW = PICKS * 3  # newest issues of each kind read first


def full_read(app: Container, limit: int, language: str | None = None) -> list[repo.EntryRow]:
    """The picks over every issue (the statement used when the window is not enough)."""
    with app.sync_engine.connect() as conn:
        rows = conn.execute(repo._RECENT_PICKS, {"lang": language, "rows": limit * 3})
        return repo._unique_picks(((r[0], r[1], r[2], r[3], r[4]) for r in rows), limit)[0]


def statements(app: Container) -> list[str]:
    seen: list[str] = []
    event.listen(app.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


async def test_old_picks_behind_many_issues_without_any(empty_bot: Harness, app: Container) -> None:
    old = [
        weekly("2024-W01", [item(1, "Oldest pick A", arxiv="2401.00001", pick=True)]),
        weekly("2024-W02", [item(1, "Oldest pick B", arxiv="2401.00002", pick=True)]),
    ]
    plain = [
        weekly(f"2024-W{w:02d}", [item(1, f"Plain {w}", arxiv=f"2402.{w:05d}", pick=w == 10)])
        for w in range(3, 3 + WINDOW + 2)  # more issues without picks than the window holds
    ]
    await store(
        app, *old, *plain, monthly("2024-01", [item(1, "Plain month", url="https://e.x/m")])
    )
    seen = statements(app)
    found = await app.browse.recent_picks(PICKS)
    assert len(seen) == 2  # the window, then every issue
    # W10's pick is in the window, the others are not: the window alone would miss them
    assert [e.headline for e in found] == ["Plain 10", "Oldest pick B", "Oldest pick A"]
    assert [(e.headline, e.issue) for e in found] == [
        (e.headline, e.issue) for e in full_read(app, PICKS)
    ]
    await empty_bot.send("/picks")
    text = empty_bot.last().visible_text
    assert text.index("Plain 10") < text.index("Oldest pick B") < text.index("Oldest pick A")


async def test_the_window_alone_answers_when_its_picks_are_newest(
    empty_bot: Harness, app: Container
) -> None:
    issues = [
        weekly(
            f"2025-W{w:02d}",
            [item(i, f"Pick {w}.{i}", arxiv=f"2501.{w:03d}{i:02d}", pick=True) for i in (1, 2)],
        )
        for w in range(1, WINDOW + 6)  # more issues than the window
    ]
    await store(app, *issues)
    for limit in (1, 3, PICKS, 40):
        seen = statements(app)
        found = await app.browse.recent_picks(limit)
        read = len(seen)
        expected = full_read(app, limit)
        assert [(e.headline, e.issue) for e in found] == [(e.headline, e.issue) for e in expected]
        if limit <= PICKS:
            assert read == 1, limit
    assert (await app.browse.recent_picks(2))[0].headline == f"Pick {WINDOW + 5}.1"
