"""Telegram or X trouble never takes the bot down, never prints a traceback, never leaks a secret.

Each case runs ``digestbot dispatch --once`` in process against the fake servers (in threads)
with recognisable secrets, then greps everything the process printed, logged and stored.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build
from bot.cli import main
from bot.clock import FrozenClock
from bot.config import load_settings
from bot.sandbox import ServerThread, TelegramState, XState, make_telegram_app, make_x_app
from tests.builders import TELEGRAM_TOKEN, X_KEYS, dump, item, store, weekly

# recognisable secrets: none of them may appear anywhere the process writes
ODD_TOKEN = "wrong-T0KEN-S3CRET-that-looks-like-nothing"
WRONG_X = {
    "consumer_key": "CKEYs3cretValueXYZ",
    "consumer_secret": "CSECRETs3cretValueXYZ",
    "access_token": "ATOKENs3cretValueXYZ",
    "access_token_secret": "ASECRETs3cretValueXYZ",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    code: int
    out: str
    err: str
    log: str
    db: str
    secrets: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def assert_clean(self) -> None:
        everything = "\n".join((self.out, self.err, self.log, self.db))
        assert "Traceback" not in self.out + self.err
        assert self.secrets, "the case must name the secrets it checks"
        for secret in self.secrets:
            assert secret not in everything, f"secret {secret[:6]}... leaked"


@dataclass
class Rig:
    db_url: str
    log_file: Path
    telegram: TelegramState
    x: XState
    env: dict[str, str]
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def dispatch(self, **env: str) -> Run:
        """One ``dispatch --once``: a paper and the digest are due, so X gets both and Telegram
        the first (our pacing keeps 1 message a second per chat: the second waits a second)."""
        for key, value in {**self.env, **env}.items():
            self.monkeypatch.setenv(f"DIGESTBOT_{key}", value)
        code = main(["dispatch", "--once"])
        out, err = self.capsys.readouterr()
        log = self.log_file.read_text() if self.log_file.exists() else ""
        db = dump(self.db_url)
        assert "Trouble comment 1." in db  # the dump reads the rows the secrets could hide in
        secrets = [v for k, v in {**self.env, **env}.items() if "TOKEN" in k or "KEY" in k]
        secrets += [v for k, v in {**self.env, **env}.items() if "SECRET" in k]
        return Run(code, out, err, log, db, secrets)


async def _seed(db_url: str) -> None:
    # queued a week ago: the first slots are in the past for the real clock
    app = build(load_settings(database_url=db_url), FrozenClock(datetime(2026, 1, 5, tzinfo=UTC)))
    try:
        items = [item(i, f"Trouble comment {i}.", arxiv=f"2601.{i:05d}") for i in (1, 2)]
        await store(app, weekly("2026-W02", items))
        await app.queue.enqueue_issues(["2026-W02"])
    finally:
        await app.aclose()


@pytest.fixture
def rig(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Rig]:
    asyncio.run(_seed(db_url))
    telegram = TelegramState(
        chats={"@trouble", "@members_only"},
        member_only_chats={"@members_only"},
        valid_tokens={TELEGRAM_TOKEN},
        limits_enabled=False,
    )
    x = XState(clock=time.time, **X_KEYS)
    log_file = tmp_path / "log" / "digestbot.log"
    monkeypatch.setenv("DIGESTBOT_LOG_FILE", str(log_file))
    with ServerThread(make_telegram_app(telegram)) as tg_url, ServerThread(make_x_app(x)) as x_url:
        env = {
            "DATABASE_URL": db_url,
            "TELEGRAM__TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM__API_BASE_URL": tg_url,
            "TELEGRAM__CHANNEL_ID": "@trouble",
            "TWITTER__API_BASE_URL": x_url,
            **{f"TWITTER__{k.upper()}": v for k, v in X_KEYS.items()},
        }
        yield Rig(db_url, log_file, telegram, x, env, monkeypatch, capsys)


def test_everything_fine_is_exit_0_and_posts_both(rig: Rig) -> None:
    run = rig.dispatch()
    assert run.code == 0, run.err
    assert len(rig.x.posts) == 2 and len(rig.telegram.sent) == 1  # a paper and the digest
    assert "pacing" in run.out  # the second Telegram message waits for the chat's pacing
    run.assert_clean()


@pytest.mark.parametrize("token", [ODD_TOKEN, "111111111:AAHrecognisableWrongToken_0123456789"])
def test_rejected_token_is_one_line_and_x_still_posts(rig: Rig, token: str) -> None:
    run = rig.dispatch(TELEGRAM__TOKEN=token)
    assert run.code == 1
    problem = [line for line in run.lines() if "DIGESTBOT_TELEGRAM__TOKEN" in line]
    assert len(problem) == 1 and "rejected the bot token" in problem[0]
    assert len(rig.x.posts) == 2 and rig.telegram.sent == []
    run.assert_clean()
    # the Telegram deliveries wait for the token to be fixed: nothing failed, nothing lost
    fixed = rig.dispatch()
    assert fixed.code == 0 and len(rig.telegram.sent) == 1 and len(rig.x.posts) == 2


def test_unreachable_api_names_the_setting(rig: Rig) -> None:
    run = rig.dispatch(TELEGRAM__API_BASE_URL=f"http://127.0.0.1:{free_port()}")
    assert run.code == 1
    assert sum("DIGESTBOT_TELEGRAM__API_BASE_URL" in line for line in run.lines()) == 1
    assert "unreachable" in run.err and len(rig.x.posts) == 2
    run.assert_clean()


def test_a_stray_bot_suffix_is_forgiven_and_never_prints_the_token(rig: Rig) -> None:
    run = rig.dispatch(TELEGRAM__API_BASE_URL=rig.env["TELEGRAM__API_BASE_URL"] + "/bot")
    assert run.code == 0, run.err
    assert len(rig.telegram.sent) == 1
    run.assert_clean()


@pytest.mark.parametrize(
    ("channel", "expected"),
    [("@no_such_channel", "not found"), ("@members_only", "not an administrator")],
)
def test_channel_problems_name_the_setting(rig: Rig, channel: str, expected: str) -> None:
    run = rig.dispatch(TELEGRAM__CHANNEL_ID=channel)
    assert run.code == 1
    problem = [line for line in run.lines() if channel in line]
    assert len(problem) == 1 and expected in problem[0], run.err
    assert len(rig.x.posts) == 2 and rig.telegram.sent == []
    run.assert_clean()


def test_wrong_x_keys_pause_x_and_telegram_goes_on(rig: Rig) -> None:
    wrong = {f"TWITTER__{k.upper()}": v for k, v in WRONG_X.items()}
    run = rig.dispatch(LOG_LEVEL="DEBUG", **wrong)  # DEBUG: oauthlib must stay quiet
    assert run.code == 1
    assert "X rejected the credentials" in run.err and "DIGESTBOT_TWITTER__" in run.err
    assert rig.x.posts == [] and len(rig.telegram.sent) == 1
    run.assert_clean()
    # nothing was failed: with the right keys (and the pause lifted) both X posts go out
    assert main(["queue", "resume"]) == 0
    fixed = rig.dispatch()
    assert fixed.code == 0, fixed.err
    assert len(rig.x.posts) == 2


def test_an_unexpected_error_points_at_the_log_without_a_traceback(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError(f"kaboom with {TELEGRAM_TOKEN}")

    monkeypatch.setattr("bot.services.dispatch.Dispatcher.tick", broken)
    run = rig.dispatch()
    assert run.code == 1
    assert str(rig.log_file) in run.err and "--debug" in run.err
    assert "Traceback" in run.log and "kaboom" in run.log  # the details are in the log
    run.assert_clean()
