"""Under faults: rehearsals leave no waits, pauses clear, a slow or failing Telegram costs no
duplicates, a locked database ends a run cleanly, the idle tick reads nothing."""

from __future__ import annotations

import logging
import random
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Container
from bot.cli import main
from bot.cli.publishing import parse_now
from bot.clock import FrozenClock
from bot.config import Settings, TelegramSettings, load_settings
from bot.logs import setup_logging
from bot.publish.base import Outgoing, RateLimited, Transient
from bot.publish.notify import LogNotifier
from bot.publish.telegram import TelegramPublisher, start_application
from bot.publish.x import XPublisher, make_client
from bot.sandbox import (
    Fault,
    FaultKind,
    ServerThread,
    TelegramState,
    XState,
    make_telegram_app,
    make_x_app,
)
from bot.services import pauses
from bot.services.dispatch import Dispatcher
from bot.store import queue as repo
from bot.store.models import Delivery, Post
from tests.builders import TELEGRAM_TOKEN, X_KEYS, item, store, weekly
from tests.fakes import ScriptedPublisher

DESTS = ["x", "telegram:channel"]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 17:00 Tokyo; first slot 19:00


def tuned(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """Settings with some keys of some sections changed, validated like the real ones."""
    update = {}
    for name, values in sections.items():
        section = getattr(settings, name)
        update[name] = type(section).model_validate({**section.model_dump(), **values})
    return settings.model_copy(update=update)


class Rig:
    def __init__(
        self,
        app: Container,
        settings: Settings,
        clock: FrozenClock,
        *,
        real: FrozenClock | None = None,
        sync_sessions: Any = None,
    ) -> None:
        self.app, self.clock, self.settings = app, clock, settings
        self.x, self.tg = ScriptedPublisher("x"), ScriptedPublisher("telegram")
        self.notifier = LogNotifier()
        self.dispatcher = self.make(clock, real=real, sync_sessions=sync_sessions)

    def make(
        self, clock: FrozenClock, *, real: FrozenClock | None = None, sync_sessions: Any = None
    ) -> Dispatcher:
        return Dispatcher(
            self.app.sessions,
            sync_sessions or self.app.sync_sessions,
            clock,
            self.settings,
            {"x": self.x, "telegram": self.tg},
            DESTS,
            self.notifier,
            random.Random(1),
            real_clock=real,
        )

    async def enqueue(self, n: int) -> list[int]:
        items = [item(i, f"Fault comment {i}.", arxiv=f"2601.{i:05d}") for i in range(1, n + 1)]
        await store(self.app, weekly("2026-W10", items))
        return (await self.app.queue.enqueue_issues(["2026-W10"])).papers

    async def rows(self) -> list[Delivery]:
        async with self.app.sessions() as session:
            return await repo.ledger_rows(session)


@pytest.fixture
def rig(app: Container, settings: Settings, clock: FrozenClock) -> Rig:
    return Rig(app, settings, clock)


# --- rehearsing the future must not change the present -------------------------------------


async def test_a_rehearsal_60_days_ahead_leaves_no_wait_for_real_runs(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    real = FrozenClock(T0 + timedelta(hours=3))  # the present: the first slot has passed
    ahead = FrozenClock(real() + timedelta(days=60))
    rig = Rig(app, settings, ahead, real=real)
    await rig.enqueue(2)
    rig.tg.script.append(RateLimited("Too Many Requests: retry after 30", 30))
    report = await rig.dispatcher.tick()
    assert report.released and rig.tg.posts() == []  # Telegram said wait, in the future
    # the present: a real run (its clock is the real one) sends to Telegram at once
    present = rig.make(real, real=real)
    async with app.sessions() as session:
        assert await pauses.active_pauses(session, real()) == []
    await present.tick()
    assert rig.tg.posts()  # at once (the channel's pacing spaces the second by a second)


async def test_a_run_in_the_past_does_not_take_over_live_leases(
    app: Container, settings: Settings
) -> None:
    real = FrozenClock(T0 + timedelta(hours=3))
    rig = Rig(app, settings, real, real=real)
    await rig.enqueue(1)
    rig.tg.script.append(RateLimited("slow down", 600))
    await rig.dispatcher.tick()
    past = rig.make(FrozenClock(real() - timedelta(days=30)), real=real)
    await past.tick()
    assert rig.tg.posts() == []  # the real run's wait still holds for a run in the past


async def test_queue_resume_clears_platform_pauses(rig: Rig) -> None:
    await rig.enqueue(1)
    rig.clock.advance(hours=2)
    rig.tg.script.append(RateLimited("Too Many Requests", 3600))
    await rig.dispatcher.tick()
    async with rig.app.sessions() as session:
        [pause] = await pauses.active_pauses(session, rig.clock())
    assert pause.platform == "telegram" and "Too Many Requests" in pause.reason
    await rig.dispatcher.tick()
    assert rig.tg.posts() == []
    await rig.app.queue.set_paused(False)  # `queue resume`
    await rig.dispatcher.tick()
    assert len(rig.tg.posts()) == 1


def test_now_without_an_offset_is_the_authors_time() -> None:
    moment = parse_now("2026-03-02T19:00", "Asia/Tokyo")
    assert moment == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert parse_now("2026-03-02T19:00+00:00", "Asia/Tokyo") == datetime(
        2026, 3, 2, 19, 0, tzinfo=UTC
    )


# --- a slow or failing Telegram -------------------------------------------------------------


async def test_after_an_unknown_outcome_telegram_probes_one_send_at_a_time(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    rig = Rig(app, settings, clock)
    ids = await rig.enqueue(3)
    clock.set(T0 + timedelta(hours=2, minutes=1))  # Mon 19:01 Tokyo: post 1 is due
    rig.tg.script.append(Transient("timed out", maybe_sent=True))  # post 1 probably arrived
    await rig.dispatcher.tick()
    assert rig.tg.calls == [("telegram:channel", ids[0])]
    # the resend of post 1 waits at least the send timeout (a slow answer would have come)
    row = next(r for r in await rig.rows() if r.post_id == ids[0] and r.destination != "x")
    assert row.due_at >= clock() + timedelta(seconds=settings.telegram.send_timeout_seconds)
    # the next slot (Tue 09:00 Tokyo): the fresh post 2 probes first, alone; once Telegram
    # confirms it, the maybe-delivered post 1 follows (policy "resend"), once
    clock.set(datetime(2026, 3, 3, 0, 1, tzinfo=UTC))
    await rig.dispatcher.tick()
    assert [post for _, post in rig.tg.calls] == [ids[0], ids[1]]
    clock.advance(seconds=2)  # the channel's pace: one message a second
    await rig.dispatcher.tick()
    assert [post for _, post in rig.tg.calls] == [ids[0], ids[1], ids[0]]
    row = next(r for r in await rig.rows() if r.post_id == ids[0] and r.destination != "x")
    assert (row.state, row.duplicates) == ("sent", 1)


async def test_a_telegram_502_is_retried_and_counts_no_duplicate(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    state = TelegramState(chats={"@faults"}, limits_enabled=False)
    state.faults.push(*[Fault(FaultKind.SERVER_ERROR, method="sendMessage")] * 3)
    with ServerThread(make_telegram_app(state)) as url:
        tg = tuned(
            settings,
            telegram={"token": TELEGRAM_TOKEN, "api_base_url": url, "channel_id": "@faults"},
        )
        application = await start_application(tg)
        try:
            publisher = TelegramPublisher(application.bot, "@faults", _now, tg.telegram)
            outcomes: list[BaseException | None] = []
            for _ in range(4):
                try:
                    await publisher.send("telegram:channel", _outgoing())
                    outcomes.append(None)
                except Transient as exc:
                    outcomes.append(exc)
                publisher._pacer = type(publisher._pacer)()  # no pacing between the attempts
        finally:
            await application.shutdown()
    errors = [e for e in outcomes if isinstance(e, Transient)]
    assert len(errors) == 3 and not any(e.maybe_sent for e in errors)
    assert outcomes[-1] is None and len(state.sent) == 1  # delivered once, at the 4th try


async def test_sends_get_a_longer_read_timeout_than_other_calls(settings: Settings) -> None:
    state = TelegramState(chats={"@slow"}, limits_enabled=False)
    state.faults.push(Fault(FaultKind.SLOW, method="sendMessage", delay=1.5))
    with ServerThread(make_telegram_app(state)) as url:
        section = {
            "token": TELEGRAM_TOKEN,
            "api_base_url": url,
            "channel_id": "@slow",
            "read_timeout_seconds": 0.5,
            "send_timeout_seconds": 10.0,
        }
        tg = tuned(settings, telegram=section)
        application = await start_application(tg)
        try:
            publisher = TelegramPublisher(application.bot, "@slow", _now, tg.telegram)
            sent = await publisher.send("telegram:channel", _outgoing())
        finally:
            await application.shutdown()
    assert sent.remote_id is not None and len(state.sent) == 1  # slow, but no timeout, no resend


def _now() -> datetime:
    return datetime.now(UTC)


def _outgoing() -> Outgoing:
    from bot.domain.telegram_text import compose_drip_message

    message = compose_drip_message(
        "A comment.", title=None, url=None, paper=None, digest_url=None, buttons=False,
        preview=False,
    )
    return Outgoing(1, "A comment.", message)


# --- X --------------------------------------------------------------------------------------


async def test_x_429_waits_until_its_reset_header(settings: Settings) -> None:
    now = time.time()
    state = XState(clock=lambda: now, **X_KEYS)
    state.faults.push(Fault(FaultKind.RATE_LIMIT, retry_after=420))
    with ServerThread(make_x_app(state)) as url:
        tw = tuned(settings, twitter={**X_KEYS, "api_base_url": url}).twitter
        publisher = XPublisher(make_client(tw), lambda: datetime.fromtimestamp(now, UTC))
        try:
            with pytest.raises(RateLimited) as caught:
                await publisher.send("x", _outgoing())
        finally:
            await publisher.close()
    assert caught.value.retry_after == pytest.approx(420, abs=1)  # not the 60 s default


# --- the database ---------------------------------------------------------------------------


class LockingSessions:
    """A sessionmaker whose ``begin()`` meets a locked database from the ``fail_from``-th
    ledger write on (as if another process held the write lock past the busy timeout)."""

    def __init__(self, inner: sessionmaker[Session], fail_from: int) -> None:
        self._inner, self._fail_from, self.calls = inner, fail_from, 0

    def begin(self) -> Any:
        self.calls += 1
        if self.calls >= self._fail_from:
            raise OperationalError("UPDATE deliveries", {}, Exception("database is locked"))
        return self._inner.begin()


async def test_a_locked_database_ends_the_run_with_one_line_and_loses_nothing(
    app: Container, settings: Settings, clock: FrozenClock
) -> None:
    locking = LockingSessions(app.sync_sessions, fail_from=3)  # claim x, mark x, then locked
    rig = Rig(app, settings, clock, sync_sessions=locking)
    ids = await rig.enqueue(1)
    clock.advance(hours=2)
    report = await rig.dispatcher.tick()  # must not raise
    assert len(report.problems) == 1 and "locked" in report.problems[0]
    assert rig.x.posts() == [ids[0]] or rig.x.posts()  # X went out before the lock
    # the next run (the lock is gone) finishes everything; nothing was lost or doubled
    healthy = rig.make(clock)
    clock.advance(minutes=10)  # past any lease the locked run left
    await healthy.tick()
    rows = await rig.rows()
    assert rows and all(r.state == "sent" for r in rows), [(r.destination, r.state) for r in rows]
    assert len(rig.tg.posts()) == len(set(rig.tg.posts()))


async def test_the_idle_tick_loads_no_queued_post(rig: Rig) -> None:
    await rig.enqueue(40)
    loaded: list[object] = []

    def on_load(target: object, _context: object) -> None:
        loaded.append(target)

    event.listen(Post, "load", on_load)
    try:
        report = await rig.dispatcher.tick()  # 17:00: nothing is due before 19:00
    finally:
        event.remove(Post, "load", on_load)
    assert report.released == [] and loaded == []


# --- logs and files -------------------------------------------------------------------------


@pytest.fixture
def console_log(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    yield capsys


def test_a_telegram_429_is_one_warning_line(console_log: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", short=True)
    limiter = logging.getLogger("telegram.ext.AIORateLimiter")
    try:
        raise RuntimeError("RetryAfter: flood control exceeded")
    except RuntimeError:
        limiter.exception("Rate limit hit after maximum of %d retries", 0)
    err = console_log.readouterr().err
    assert err.count("\n") == 1 and err.startswith("WARNING:") and "Traceback" not in err


def test_oauth_loggers_stay_quiet_at_debug() -> None:
    setup_logging("DEBUG", debug=True)
    for name in ("oauthlib", "requests_oauthlib"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG)


def test_the_dry_run_copy_is_private(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.common import rehearsal

    with rehearsal(load_settings(database_url=db_url), True) as copy:
        path = Path(copy.database_url.removeprefix("sqlite:///"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_preview_of_an_empty_text_is_one_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    assert main(["preview", "--text", ""]) == 2
    err = capsys.readouterr().err
    assert "--text is empty" in err and "Traceback" not in err


def test_the_telegram_settings_default_to_a_long_send_timeout() -> None:
    defaults = TelegramSettings()
    assert defaults.send_timeout_seconds > 4 * defaults.read_timeout_seconds


# --- database trouble on the command line ---------------------------------------------------


@pytest.mark.sqlite_only("SQLite's file write lock and busy timeout")
def test_a_database_locked_past_the_busy_timeout_is_one_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.setattr("bot.store.db.BUSY_TIMEOUT_MS", 200)  # wait 0.2 s, not 5 s
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        code = main(["queue", "pause"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert code == 1 and "is locked by another process" in err and "Traceback" not in err
    assert main(["queue", "pause"]) == 0  # nothing was half-done: it simply works now


@pytest.mark.parametrize(
    ("orig", "words"),
    [
        ("attempt to write a readonly database", "read-only"),
        ("database or disk is full", "disk full"),
        ("connection failed: Connection refused", "cannot be reached"),
        ("something else entirely", "database error on"),
    ],
)
def test_database_errors_are_described(orig: str, words: str) -> None:
    from bot.store.failures import database_problem

    problem = database_problem(OperationalError("INSERT", {}, Exception(orig)), "/tmp/x.db")
    assert problem is not None and words in problem and "/tmp/x.db" in problem
    assert database_problem(ValueError("not a database error"), "/tmp/x.db") is None
