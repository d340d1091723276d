"""Kept answers (bot.services.read_cache) are never served after the database changed: not
after this container wrote, not after another container on the same file wrote, not after
another process wrote. A repeated read with nothing committed in between runs no SQL."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text, update
from sqlalchemy.orm import Session

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.services.read_cache import ReadCache
from bot.services.subscribers import SubscriberService
from bot.store.data_version import NoVersion, SqliteDataVersion, data_version
from bot.store.models import Issue, Subscriber
from tests.builders import item, store, weekly
from tests.telegram.conftest import add_dripped

SQLITE_ONLY = pytest.mark.sqlite_only("PRAGMA data_version: PostgreSQL keeps nothing")


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


@pytest.fixture
async def other(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    """A second container on the same database (another worker, the command line)."""
    container = build(settings, clock)
    try:
        yield container
    finally:
        await container.aclose()


async def two_weeks(app: Container) -> None:
    await store(
        app,
        weekly("2026-W08", [item(1, "Old pick", arxiv="2602.00081", pick=True)]),
        weekly("2026-W09", [item(1, "Small models reason", arxiv="2602.00091", pick=True)]),
    )


def sqlite_file(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


# --- the change signal -----------------------------------------------------------------------


@SQLITE_ONLY
def test_data_version_moves_with_other_connections_commits(settings: Settings) -> None:
    path = sqlite_file(settings)
    version = SqliteDataVersion(path)
    first = version.token()
    assert first is not None and version.token() == first  # nothing committed: same token
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN")
    writer.execute("COMMIT")  # an empty transaction changes nothing
    assert version.token() == first
    writer.execute("UPDATE issues SET title = title")  # no row: nothing written
    assert version.token() == first
    writer.execute("CREATE TABLE scratch (x)")  # a commit that changed the file
    moved = version.token()
    assert moved != first and version.token() == moved
    writer.close()
    version.close()
    assert version.token() not in (first, moved)  # reopened: counts from scratch, never equal


def test_a_database_that_cannot_be_read_never_matches(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    version = SqliteDataVersion(folder)  # not a database file
    assert version.token() != version.token()


def test_no_change_signal_on_postgresql_or_in_memory() -> None:
    pg = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    memory = create_engine("sqlite://")
    assert isinstance(data_version(pg), NoVersion)
    assert isinstance(data_version(memory), NoVersion)
    assert NoVersion().token() is None


# --- the cache, with a version the test moves -------------------------------------------------


class Moved:
    def __init__(self) -> None:
        self.value: Hashable | None = 1

    def token(self) -> Hashable | None:
        return self.value

    def close(self) -> None:
        return None


async def test_kept_until_the_version_moves() -> None:
    version, loads = Moved(), []

    async def load() -> str:
        loads.append(version.value)
        return f"answer at {version.value}"

    cache: ReadCache[str] = ReadCache(version)
    assert await cache.get("k", load) == "answer at 1"
    assert await cache.get("k", load) == "answer at 1"
    assert loads == [1]
    version.value = 2
    assert await cache.get("k", load) == "answer at 2"
    assert (cache.stats.hits, cache.stats.misses, cache.stats.resets) == (1, 2, 1)


async def test_a_commit_during_the_load_is_not_hidden() -> None:
    """The token is read before loading: an answer read while the database moved is kept
    under the old token, so the next call (which sees the new one) loads again."""
    version = Moved()
    answers = iter(["read while version 1 became 2", "read at 2"])

    async def load() -> str:
        version.value = 2  # another process commits while this read runs
        return next(answers)

    cache: ReadCache[str] = ReadCache(version)
    assert await cache.get("k", load) == "read while version 1 became 2"
    assert await cache.get("k", load) == "read at 2"


async def test_concurrent_loads_keep_only_current_answers() -> None:
    version = Moved()
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "old"

    async def fresh() -> str:
        return "new"

    cache: ReadCache[str] = ReadCache(version)
    pending = asyncio.create_task(cache.get("a", slow))  # token 1 read, load waits
    await asyncio.sleep(0)
    version.value = 2
    assert await cache.get("b", fresh) == "new"  # kept under token 2
    release.set()
    assert await pending == "old"  # not kept: its token is no longer current
    assert len(cache) == 1
    assert await cache.get("a", fresh) == "new"


async def test_no_signal_keeps_nothing_and_the_size_is_bounded() -> None:
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    never: ReadCache[int] = ReadCache(NoVersion())
    assert [await never.get("k", load) for _ in range(3)] == [1, 2, 3]
    small: ReadCache[int] = ReadCache(Moved(), max_entries=2)
    for key in ("a", "b", "c"):
        await small.get(key, load)
    assert len(small) == 2
    before = calls
    await small.get("a", load)  # the oldest went first
    assert calls == before + 1


# --- browsing across containers and processes ------------------------------------------------


@SQLITE_ONLY
async def test_repeated_browsing_runs_no_sql(app: Container) -> None:
    await two_weeks(app)
    first = await app.browse.week(None, language="en")
    latest = await app.browse.latest(language="en")
    picks = await app.browse.recent_picks(10, language="en")
    page = await app.browse.search_page("models", 1)
    with counted(app) as statements:
        assert await app.browse.week(None, language="en") is first
        assert await app.browse.latest(language="en") is latest
        assert await app.browse.recent_picks(10, language="en") is picks
        assert await app.browse.search_page("  models ", 1) is page  # spaces normalised
    assert statements == []


async def test_another_container_importing_is_seen_at_once(
    app: Container, other: Container
) -> None:
    await two_weeks(app)
    assert (await app.browse.week(None)).key == "2026-W09"
    assert (await app.browse.search_page("laundry", 1)).hits == []
    await store(other, weekly("2026-W10", [item(1, "Robots fold laundry", pick=True)]))
    view = await app.browse.week(None)
    assert (view.key, view.prev_key) == ("2026-W10", "2026-W09")
    assert [p.headline for p in view.picks] == ["Robots fold laundry"]
    assert (await app.browse.latest()) is not None
    assert [h.headline for h in (await app.browse.search_page("laundry", 1)).hits] == [
        "Robots fold laundry"
    ]
    assert [e.headline for e in await app.browse.recent_picks(1)] == ["Robots fold laundry"]


async def test_a_post_sent_by_another_container_joins_this_week(
    app: Container, other: Container, clock: FrozenClock
) -> None:
    await store(app, weekly("2026-W10", [item(1, "Small models reason", arxiv="2603.00101")]))
    assert (await app.browse.week(None)).dripped == []
    await add_dripped(other, clock() - timedelta(hours=1))
    assert (await app.browse.week(None)).dripped != []


async def test_a_removed_issue_is_gone_at_once(app: Container, other: Container) -> None:
    await two_weeks(app)
    assert (await app.browse.week(None)).key == "2026-W09"
    await other.archive.remove("2026-W09")
    view = await app.browse.week(None)
    assert (view.key, view.next_key) == ("2026-W08", None)


@SQLITE_ONLY
async def test_another_process_editing_the_file_is_seen_at_once(
    app: Container, settings: Settings
) -> None:
    await two_weeks(app)
    assert (await app.browse.week("2026-W09")).title != "Edited elsewhere"
    script = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute(\"UPDATE issues SET title = 'Edited elsewhere' WHERE key = '2026-W09'\")\n"
        "conn.commit()\n"
    )
    command = [sys.executable, "-c", script, str(sqlite_file(settings))]
    await asyncio.to_thread(subprocess.run, command, check=True)
    assert (await app.browse.week("2026-W09")).title == "Edited elsewhere"


async def test_this_containers_own_writes_are_seen(app: Container) -> None:
    await two_weeks(app)
    assert (await app.browse.week("2026-W09")).title != "Renamed"
    async with app.sessions.begin() as session:
        await session.execute(update(Issue).where(Issue.key == "2026-W09").values(title="Renamed"))
    assert (await app.browse.week("2026-W09")).title == "Renamed"


async def test_a_new_week_starts_without_a_commit(app: Container, clock: FrozenClock) -> None:
    """/week's "dripped this week" is per ISO week: the kept answer of last week is not
    served when the clock crossed into the next (nothing was committed)."""
    await store(app, weekly("2026-W10", [item(1, "Small models reason", arxiv="2603.00101")]))
    await add_dripped(app, clock() - timedelta(hours=1))
    assert (await app.browse.week(None)).dripped != []
    clock.advance(days=7)
    assert (await app.browse.week(None)).dripped == []


# --- subscribers -----------------------------------------------------------------------------


@SQLITE_ONLY
async def test_start_of_a_known_chat_writes_nothing(app: Container) -> None:
    await app.subscribers.start(7, "en")
    await app.subscribers.start(7, "en")  # the snapshot is kept now
    with counted(app) as statements:
        again = await app.subscribers.start(7, "zh")
    assert statements == []
    assert (again.state, again.language) == ("inactive", "en")  # settings kept, as before


async def test_settings_changed_by_another_container_are_seen(
    app: Container, other: Container
) -> None:
    await app.subscribers.subscribe(7, "en")
    assert (await app.subscribers.get(7)) is not None
    await other.subscribers.update(7, receive="digest")
    found = await app.subscribers.get(7)
    assert found is not None and found.receive == "digest"
    await other.subscribers.mark_blocked(7)
    blocked = await app.subscribers.get(7)
    assert blocked is not None and blocked.state == "blocked"
    back = await app.subscribers.start(7, "en")  # a blocked chat's /start still writes
    assert back.state == "active"
    assert (await other.subscribers.get(7)) == back


async def test_a_row_changed_outside_the_service_is_seen(app: Container) -> None:
    await app.subscribers.subscribe(8, "en")
    assert (await app.subscribers.get(8)) is not None
    async with app.sessions.begin() as session:
        await session.execute(
            update(Subscriber)
            .where(Subscriber.chat_id == 8)
            .values(timezone="Europe/Berlin", updated_at=datetime(2026, 3, 2, tzinfo=UTC))
        )
    found = await app.subscribers.get(8)
    assert found is not None and found.timezone == "Europe/Berlin"


# --- quiet writes: a subscriber's settings leave the archive's kept answers alone -------------


def quiet_subscribers(app: Container) -> SubscriberService:
    """Subscriber changes written on the browse signal's connection (as bot.app wires it)."""
    return SubscriberService(
        app.sessions, app.clock, app.settings.schedule, quiet_writes=app.browse.version
    )


@SQLITE_ONLY
def test_own_writes_do_not_move_the_token_but_others_see_them(settings: Settings) -> None:
    path = sqlite_file(settings)
    version = SqliteDataVersion(path)
    before = version.token()

    def write(session: Session) -> None:
        session.execute(text("CREATE TABLE scratch (x)"))
        session.execute(text("INSERT INTO scratch VALUES (1)"))

    version.write(write)
    assert version.token() == before
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT x FROM scratch").fetchall() == [(1,)]
    reader.close()
    version.close()


@SQLITE_ONLY
async def test_settings_changes_keep_the_archive_answers(app: Container, other: Container) -> None:
    subscribers = quiet_subscribers(app)
    assert subscribers.writes_quietly
    await two_weeks(app)
    await subscribers.start(7, "en")
    view = await app.browse.week(None)
    page = await app.browse.search_page("models", 1)
    await subscribers.update(7, receive="digest")
    await subscribers.subscribe(7)
    await subscribers.start(8, "zh")  # a new chat: an insert
    with counted(app) as statements:
        assert await app.browse.week(None) is view
        assert await app.browse.search_page("models", 1) is page
    assert statements == []
    seen = await other.subscribers.get(7)  # another container sees the change at once
    assert seen is not None and (seen.receive, seen.state) == ("digest", "active")
    mine = await subscribers.get(7)  # and so does this service's own kept snapshot
    assert mine == seen
    new = await other.subscribers.get(8)
    assert new is not None and new.language == "zh"


async def test_quiet_writes_still_follow_other_writers(app: Container, other: Container) -> None:
    subscribers = quiet_subscribers(app)
    await two_weeks(app)
    await subscribers.subscribe(7, "en")
    assert (await app.browse.week(None)).key == "2026-W09"
    await other.subscribers.mark_blocked(7)
    blocked = await subscribers.get(7)
    assert blocked is not None and blocked.state == "blocked"
    assert (await subscribers.start(7, "en")).state == "active"  # back, written quietly
    await store(other, weekly("2026-W10", [item(1, "Robots fold laundry", pick=True)]))
    assert (await app.browse.week(None)).key == "2026-W10"


def test_quiet_writes_need_a_sqlite_signal(app: Container) -> None:
    service = SubscriberService(
        app.sessions, app.clock, app.settings.schedule, quiet_writes=NoVersion()
    )
    assert not service.writes_quietly
