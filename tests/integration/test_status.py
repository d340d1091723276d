"""``digestbot status`` and the sent-post history: next slots per destination, pauses, X spend,
deliveries that need the maintainer, last posts with their links."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import Container
from bot.cli import status as status_cli
from bot.clock import FrozenClock
from bot.config import Settings
from bot.domain.links import telegram_channel_link, x_post_link
from bot.publish.base import Outgoing, Permanent, Sent
from bot.services.pauses import set_pause
from bot.services.status import StatusService, configured_destinations
from tests.builders import TELEGRAM_TOKEN, X_KEYS, item, store, weekly
from tests.fakes import ScriptedPublisher

DESTS = ["x", "telegram:channel"]


class NumberedPublisher(ScriptedPublisher):
    """Answers with numeric remote ids, as X and Telegram do: 1001, 1002, ..."""

    async def send(self, destination: str, post: Outgoing) -> Sent:
        await super().send(destination, post)
        return Sent(str(1000 + len(self.published)))


def tuned(settings: Settings, **sections: dict[str, Any]) -> Settings:
    update = {k: getattr(settings, k).model_copy(update=v) for k, v in sections.items()}
    return settings.model_copy(update=update)


def with_platforms(settings: Settings, channel: str = "@demo", **twitter: Any) -> Settings:
    keys: dict[str, Any] = {k: SecretStr(v) for k, v in X_KEYS.items()}
    return tuned(
        settings,
        telegram={"token": SecretStr(TELEGRAM_TOKEN), "channel_id": channel},
        twitter={**keys, **twitter},
    )


async def enqueue(app: Container, n: int) -> tuple[list[int], int]:
    items = [item(i, f"Comment number {i}.", arxiv=f"2601.{i:05d}") for i in range(1, n + 1)]
    await store(app, weekly("2026-W10", items))
    report = await app.queue.enqueue_issues(["2026-W10"])
    return report.papers, report.digests[0]


def connect(app: Container) -> tuple[NumberedPublisher, NumberedPublisher]:
    x, tg = NumberedPublisher("x"), NumberedPublisher("telegram")
    app.publishers = {"x": x, "telegram": tg}
    app.destinations = list(DESTS)
    return x, tg


def test_links_follow_each_platform_rules() -> None:
    assert x_post_link("1790000000000000001") == "https://x.com/i/status/1790000000000000001"
    assert x_post_link(None) is None and x_post_link("console-1") is None
    assert telegram_channel_link("@demo", "42") == "https://t.me/demo/42"
    assert telegram_channel_link("-1001234567890", "42") == "https://t.me/c/1234567890/42"
    assert telegram_channel_link("-12345", "42") is None  # a basic group has no link
    assert telegram_channel_link("@demo", None) is None
    assert telegram_channel_link(None, "42") is None


def test_destinations_follow_the_credentials(settings: Settings) -> None:
    assert configured_destinations(settings) == []
    token_only = tuned(settings, telegram={"token": SecretStr(TELEGRAM_TOKEN)})
    assert configured_destinations(token_only) == []  # no channel: nothing to post to
    assert configured_destinations(with_platforms(settings)) == DESTS
    half = {k: SecretStr(v) for k, v in list(X_KEYS.items())[:3]}
    assert configured_destinations(tuned(settings, twitter=half)) == []


async def test_status_of_a_fresh_database(app: Container, settings: Settings) -> None:
    status = await StatusService(app.sessions, settings, app.clock).status()
    assert status.destinations == [] and status.recent == [] and status.problems == []
    assert (status.x.posts_today, status.x.daily_cap, status.x.spent_month) == (0, 15, 0.0)
    assert status.queue_paused is False and status.pauses == []


async def test_next_paper_and_digest_per_destination(app: Container, settings: Settings) -> None:
    papers, digest = await enqueue(app, 3)
    await app.queue.top(papers[2])
    status = await StatusService(app.sessions, with_platforms(settings), app.clock).status()
    assert [d.destination for d in status.destinations] == DESTS
    view = {p.id: p for p in (await app.queue.view()).posts}
    for dest in status.destinations:
        assert dest.next_paper is not None and dest.next_digest is not None
        assert dest.next_paper.id == papers[2] and dest.next_paper.slot == view[papers[2]].slot
        assert dest.next_digest.id == digest and dest.next_digest.issue == "2026-W10"
        assert dest.next_paper.paper == "arxiv:2601.00003"
        assert (dest.waiting, dest.holds) == (0, ())


async def test_sent_posts_usage_problems_and_links(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    papers, _ = await enqueue(app, 3)
    _, tg = connect(app)
    tg.script.append(Permanent("Bad Request: chat not found"))
    view = await app.queue.view()
    clock.set(view.posts[0].slot)  # type: ignore[arg-type]
    await app.dispatcher().tick()
    service = StatusService(app.sessions, with_platforms(settings, daily_cap=1), clock)
    first = await service.status()
    assert (first.x.posts_today, first.x.daily_cap) == (1, 1) and first.x.spent_month > 0
    [problem] = first.problems
    assert (problem.post_id, problem.destination, problem.state) == (
        papers[0],
        "telegram:channel",
        "failed",
    )
    assert "chat not found" in problem.reason and first.problems_total == 1
    [sent] = first.recent
    assert sent.id == papers[0] and sent.paper == "arxiv:2601.00001"
    links = {d.destination: (d.state, d.link) for d in sent.deliveries}
    assert links == {
        "x": ("sent", "https://x.com/i/status/1001"),
        "telegram:channel": ("failed", None),
    }
    x_status = next(d for d in first.destinations if d.destination == "x")
    assert any("daily cap reached (1/1" in h for h in x_status.holds)

    view = await app.queue.view()
    clock.set(next(p.slot for p in view.posts if p.id == papers[1]))  # type: ignore[arg-type]
    await app.dispatcher().tick()
    second = await service.history()
    assert [p.id for p in second] == [papers[1], papers[0]]  # newest first
    assert {d.destination: d.link for d in second[0].deliveries} == {
        "telegram:channel": "https://t.me/demo/1001",  # the first one Telegram accepted
        "x": "https://x.com/i/status/1002",
    }
    assert [p.id for p in await service.history(limit=1)] == [papers[1]]
    numeric = StatusService(app.sessions, with_platforms(settings, channel="-1009876"), clock)
    [latest] = (await numeric.status(recent=1)).recent
    tg_link = next(d.link for d in latest.deliveries if d.destination == "telegram:channel")
    assert tg_link == "https://t.me/c/9876/1001"


async def test_pauses_and_the_queue_pause_are_reported(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    await enqueue(app, 1)
    await app.queue.set_paused(True)
    async with app.sessions.begin() as session:
        until = clock() + timedelta(minutes=10)
        await set_pause(session, "x", until, "X said: Too Many Requests", clock())
    status = await StatusService(app.sessions, with_platforms(settings), clock).status()
    assert status.queue_paused is True
    assert [(p.platform, p.reason) for p in status.pauses] == [("x", "X said: Too Many Requests")]
    holds = {d.destination: d.holds for d in status.destinations}
    assert holds["telegram:channel"] == ()
    assert holds["x"] == ("X said: Too Many Requests (until 2026-03-02 17:10 JST)",)
    clock.advance(minutes=11)
    later = await StatusService(app.sessions, with_platforms(settings), clock).status()
    assert later.pauses == [] and all(d.holds == () for d in later.destinations)


async def test_status_command_prints_local_times(
    app: Container, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    papers, _ = await enqueue(app, 2)
    parser = argparse.ArgumentParser()
    status_cli.register(parser.add_subparsers())
    platforms = with_platforms(settings)

    args = parser.parse_args(["status", "--json"])
    assert await args.handler(args, platforms) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["timezone"] == "Asia/Tokyo" and data["next_paper"]["id"] == papers[0]
    [x, tg] = data["destinations"]
    assert (x["destination"], tg["destination"]) == ("x", "telegram:channel")
    assert x["next_paper"]["id"] == papers[0]
    assert x["next_paper"]["slot"] == "2026-03-02T19:00:00+09:00"  # 10:00 UTC, in Tokyo
    assert x["next_digest"]["slot"] == "2026-03-08T20:00:00+09:00"
    assert data["x"] == {
        "posts_today": 0,
        "daily_cap": 15,
        "spent_month_usd": 0.0,
        "monthly_budget_usd": 10.0,
    }
    assert data["problems"] == [] and data["recent"] == []

    args = parser.parse_args(["status"])
    assert await args.handler(args, platforms) == 0
    out = capsys.readouterr().out
    assert f"next paper: #{papers[0]} at Mon 2026-03-02 19:00 · Comment number 1." in out
    assert f"#{papers[0]} Mon 03-02 19:00" in out  # in the per-destination table
    assert "no parked, failed or dead deliveries" in out and "nothing sent yet" in out

    assert await args.handler(args, settings) == 0
    out = capsys.readouterr().out
    assert "no destination is configured" in out and "next paper: #" in out
