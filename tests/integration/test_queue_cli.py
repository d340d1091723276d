"""``digestbot queue``: paged ``list``, ``history`` with links, ``now --json`` and its exit code,
ids beyond 64 bits. In process, against the fake X and Telegram servers in threads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.app import build
from bot.cli import main
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import (
    Fault,
    FaultKind,
    ServerThread,
    TelegramState,
    XState,
    make_telegram_app,
    make_x_app,
)
from tests.builders import TELEGRAM_TOKEN, X_KEYS, item, store, weekly

HUGE = str(2**63)  # one beyond the largest 64-bit id


@dataclass
class Cli:
    db_url: str
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str, code: int = 0) -> dict[str, object]:
        got, out, err = self(*args, "--json")
        assert got == code, err
        data: dict[str, object] = json.loads(out)
        return data

    def seed(self, n: int) -> list[int]:
        """Queue ``n`` papers and one digest (as ``import --enqueue`` would); paper ids."""

        async def run() -> list[int]:
            app = build(load_settings(database_url=self.db_url), FrozenClock(datetime.now(UTC)))
            try:
                items = [item(i, f"Comment {i}.", arxiv=f"2601.{i:05d}") for i in range(1, n + 1)]
                await store(app, weekly("2026-W10", items))
                return (await app.queue.enqueue_issues(["2026-W10"])).papers
            finally:
                await app.aclose()

        return asyncio.run(run())


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    return Cli(db_url, capsys)


@dataclass
class Fakes:
    telegram: TelegramState
    x: XState


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    """Both fake servers in threads (the CLI runs its own event loop); credentials in the env.
    The channel @demo exists unless a test removes it."""
    telegram = TelegramState(chats={"@demo"}, limits_enabled=False)
    x = XState(clock=time.time, **X_KEYS)  # the CLI posts at the real time
    with ServerThread(make_telegram_app(telegram)) as tg_url, ServerThread(make_x_app(x)) as x_url:
        env = {
            "TELEGRAM__TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM__API_BASE_URL": tg_url,
            "TELEGRAM__CHANNEL_ID": "@demo",
            "TWITTER__API_BASE_URL": x_url,
            **{f"TWITTER__{k.upper()}": v for k, v in X_KEYS.items()},
        }
        for key, value in env.items():
            monkeypatch.setenv(f"DIGESTBOT_{key}", value)
        yield Fakes(telegram, x)


def test_list_is_paged_with_counts(cli: Cli) -> None:
    papers = cli.seed(25)  # + 1 digest: 26 open posts
    page = cli.json("queue", "list")
    assert (page["total"], page["sent"], len(page["posts"])) == (26, 0, 20)  # type: ignore[arg-type]
    first = page["posts"][0]  # type: ignore[index]
    assert {"id", "kind", "paper", "issue", "text", "url", "slot", "state", "deliveries"} <= set(
        first
    )
    assert "expected_usd_per_month" in page["cost"]  # type: ignore[operator]
    everything = cli.json("queue", "list", "--all")
    assert len(everything["posts"]) == everything["total"] == 26  # type: ignore[arg-type]
    three = cli.json("queue", "list", "--limit", "3")
    ids = [p["id"] for p in everything["posts"]]  # type: ignore[union-attr, index]
    assert [p["id"] for p in three["posts"]] == ids[:3]  # type: ignore[union-attr, index]
    assert set(ids) >= set(papers)

    code, out, _ = cli("queue", "list")
    assert code == 0
    assert "showing 20 of 26 open posts" in out and "6 more: --limit N or --all" in out
    assert "0 posts sent so far; `digestbot queue history` lists them" in out
    for bad in ("0", HUGE, "ten"):
        with pytest.raises(SystemExit) as exit_:
            cli("queue", "list", "--limit", bad)
        err = cli.capsys.readouterr().err
        assert exit_.value.code == 2 and "argument --limit:" in err


def test_edit_verbs_print_the_same_page(cli: Cli) -> None:
    papers = cli.seed(22)
    moved = cli.json("queue", "move", str(papers[0]), "22", "--all")
    paper_ids = [p["id"] for p in moved["posts"] if p["kind"] == "paper"]  # type: ignore[union-attr, index]
    assert paper_ids[-1] == papers[0]
    assert len(cli.json("queue", "top", str(papers[0]))["posts"]) == 20  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "verb",
    [
        ("rm", HUGE),
        ("now", HUGE),
        ("top", HUGE),
        ("edit", HUGE, "--text", "x"),
        ("move", HUGE, "1"),
        ("rm", "0"),
        ("now", "-5"),
    ],
)
def test_ids_no_post_can_have_are_one_clear_line(cli: Cli, verb: tuple[str, ...]) -> None:
    cli.seed(1)
    code, out, err = cli("queue", *verb)
    assert code == 1
    assert f"no post with id {verb[1]}" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_now_sends_reports_json_and_history_links(cli: Cli, fakes: Fakes) -> None:
    papers = cli.seed(3)
    data = cli.json("queue", "now", str(papers[1]))
    sent = sorted((d["post"], d["destination"]) for d in data["sent"])  # type: ignore[union-attr, index]
    assert sent == [(papers[1], "telegram:channel"), (papers[1], "x")]
    assert data["failed"] == [] and data["released"] == [papers[1]]
    queue = data["queue"]
    assert (queue["total"], queue["sent"]) == (3, 1)  # type: ignore[index]
    assert papers[1] not in [p["id"] for p in queue["posts"]]  # type: ignore[index]

    code, out, _ = cli("queue", "list")
    assert code == 0 and "1 post sent so far" in out

    [tweet] = fakes.x.posts
    [message] = fakes.telegram.messages("@demo")
    history = cli.json("queue", "history")
    [post] = history["posts"]  # type: ignore[misc]
    assert post["id"] == papers[1] and post["paper"] == "arxiv:2601.00002"
    links = {d["destination"]: (d["remote_id"], d["link"]) for d in post["deliveries"]}
    assert links == {
        "x": (str(tweet.id), f"https://x.com/i/status/{tweet.id}"),
        "telegram:channel": (
            str(message.message_id),
            f"https://t.me/demo/{message.message_id}",
        ),
    }
    code, out, _ = cli("queue", "history", "--limit", "5")
    assert code == 0 and f"https://x.com/i/status/{tweet.id}" in out


def test_now_exits_1_when_a_delivery_goes_dead(
    cli: Cli, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    papers = cli.seed(2)
    monkeypatch.setenv("DIGESTBOT_DELIVERY__MAX_ATTEMPTS", "1")  # the first 5xx is final
    fakes.telegram.faults.push(Fault(FaultKind.SERVER_ERROR, method="sendMessage"))
    data = cli.json("queue", "now", str(papers[0]), code=1)
    [failed] = data["failed"]  # type: ignore[misc]
    assert (failed["post"], failed["destination"]) == (papers[0], "telegram:channel")
    assert "gave up after 1 attempts" in failed["reason"]
    assert data["sent"] == [{"post": papers[0], "destination": "x"}]
    assert {"released", "retrying", "waiting", "queue"} <= set(data)

    fakes.telegram.faults.push(Fault(FaultKind.SERVER_ERROR, method="sendMessage"))
    code, out, _ = cli("queue", "now", str(papers[1]))
    assert code == 1 and f"post {papers[1]} to telegram:channel: gave up" in out


def test_now_on_a_paused_queue_says_why_nothing_went_out(cli: Cli, fakes: Fakes) -> None:
    papers = cli.seed(2)
    assert cli.json("queue", "pause")["paused"] is True
    data = cli.json("queue", "now", str(papers[1]))
    assert data["sent"] == [] and data["released"] == []
    assert any("queue is paused" in w for w in data["waiting"])  # type: ignore[union-attr]
    assert fakes.x.posts == []


def test_now_without_any_destination_is_refused_and_changes_nothing(cli: Cli) -> None:
    papers = cli.seed(2)
    before = cli.json("queue", "list")
    code, _, err = cli("queue", "now", str(papers[1]))
    assert code == 1 and "no destination is configured" in err
    assert cli.json("queue", "list") == before


def test_history_of_nothing(cli: Cli) -> None:
    cli.seed(1)
    assert cli.json("queue", "history") == {"posts": []}
    code, out, _ = cli("queue", "history")
    assert code == 0 and "nothing sent yet" in out
