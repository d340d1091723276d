"""``stats``: subscribers, deliveries sent per destination, failures, the X spend this month,
a 12-week series and its PNG chart (matplotlib imported only to draw it)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.app import Container
from bot.cli import main
from bot.clock import FrozenClock
from bot.services.stats import render_png, stats_json
from bot.store import queue as repo
from bot.store.models import Delivery, Post, Subscriber
from tests.builders import add_subscribers, item, store, weekly


async def seed(app: Container, clock: FrozenClock) -> list[int]:
    now = clock.now
    await add_subscribers(app, range(1, 6), now)  # 5 new this week
    await add_subscribers(app, range(10, 13), now - timedelta(weeks=3))  # 3, three weeks ago
    await add_subscribers(app, [99], now - timedelta(weeks=30))  # before the series
    async with app.sessions.begin() as session:
        await session.execute(
            update(Subscriber).where(Subscriber.chat_id.in_([11, 12])).values(state="blocked")
        )
    items = [item(i, f"Comment {i}.", arxiv=f"2601.{i:05d}") for i in range(1, 5)]
    await store(app, weekly("2026-W10", items))
    ids = (await app.queue.enqueue_issues(["2026-W10"])).papers

    async def deliver(post: int, dest: str, state: str, at: datetime, cost: float | None) -> None:
        async with app.sessions.begin() as session:
            await repo.create_deliveries(session, post, [dest], at)
            await session.execute(
                update(Delivery)
                .where(Delivery.post_id == post, Delivery.destination == dest)
                .values(state=state, sent_at=at if state == "sent" else None, cost_usd=cost,
                        updated_at=at)
            )  # fmt: skip
            await session.execute(update(Post).where(Post.id == post).values(state="sent"))

    await deliver(ids[0], "x", "sent", now - timedelta(hours=1), 0.015)
    await deliver(ids[0], "telegram:channel", "sent", now - timedelta(hours=1), None)
    await deliver(ids[0], "telegram:1", "sent", now - timedelta(hours=1), None)
    await deliver(ids[0], "telegram:2", "sent", now - timedelta(hours=1), None)
    await deliver(ids[1], "x", "sent", now - timedelta(weeks=2), 0.2)
    await deliver(ids[1], "telegram:channel", "dead", now - timedelta(weeks=2), None)
    await deliver(ids[2], "x", "parked", now - timedelta(days=1), None)
    return ids


async def test_stats_counts_and_series(app: Container, clock: FrozenClock) -> None:
    await seed(app, clock)
    stats = await app.stats.stats()
    assert (stats.active, stats.blocked, stats.inactive) == (7, 2, 0)
    assert stats.sent_per_destination == {"subscribers": 2, "telegram:channel": 1, "x": 2}
    assert stats.failures == {"parked": 1, "dead": 1}
    assert len(stats.weeks) == 12 and stats.weeks[-1].start.isoweekday() == 1
    this, two_ago, three_ago = stats.weeks[-1], stats.weeks[-3], stats.weeks[-4]
    assert (
        this.posts_sent == 1
        and this.new_subscribers == 5
        and this.new_subscribers == (stats.new_this_week)
    )
    assert two_ago.posts_sent == 1 and two_ago.x_spend_usd == pytest.approx(0.2)
    assert two_ago.failures == 1 and three_ago.new_subscribers == 3
    assert sum(w.new_subscribers for w in stats.weeks) == 8  # the one 30 weeks ago is outside
    # the clock is Monday 2026-03-02 17:00 in Tokyo: only this month's spend counts
    assert stats.x_spend_month_usd == pytest.approx(0.015)
    data = stats_json(stats)
    assert data["subscribers"]["active"] == 7 and len(data["weeks"]) == 12
    assert any("X spend this month: $0.01" in line for line in stats.lines())


async def test_empty_database_and_week_bounds(app: Container) -> None:
    stats = await app.stats.stats(weeks=500)
    assert len(stats.weeks) == 104 and stats.sent_per_destination == {}
    assert (await app.stats.stats(weeks=0)).weeks[-1].posts_sent == 0
    png = render_png(await app.stats.stats())
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


async def test_png_of_a_seeded_database(app: Container, clock: FrozenClock) -> None:
    await seed(app, clock)
    png = await app.stats.png(await app.stats.stats())
    assert png.startswith(b"\x89PNG")


def test_matplotlib_is_imported_only_to_draw() -> None:
    code = (
        "import sys, bot.cli.stats, bot.services.stats, bot.app; print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_stats_json_and_png(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    target = tmp_path / "chart.png"
    assert main(["stats", "--json", "--png", str(target)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["png"] == str(target) and target.read_bytes().startswith(b"\x89PNG")
    assert main(["stats"]) == 0
    assert "subscribers: 0 active" in capsys.readouterr().out
    assert main(["stats", "--png", str(tmp_path / "missing" / "c.png")]) == 1
    assert "does not exist" in capsys.readouterr().err
