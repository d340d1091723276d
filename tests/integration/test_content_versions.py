"""Content versions (migration 0015, ``bot.store.data_version`` scopes): kept answers survive
the commits that wrote nothing they read (the ledger's deliveries of a post being broadcast,
leases, audit rows, a subscriber's settings), and are still never served after a commit that
did, whoever made it: another container, another process, a plain sqlite3 connection."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings
from bot.services.browse import BrowseService
from bot.services.subscribers import SubscriberService
from bot.store.data_version import (
    ARCHIVE,
    CONTENT_VERSIONS,
    SUBSCRIBERS,
    SqliteDataVersion,
    data_version,
)
from bot.store.fts import is_fts_name
from tests.builders import item, store, weekly

pytestmark = pytest.mark.sqlite_only("SQLite's triggers and data_version: PostgreSQL keeps nothing")

#: tables whose writes no kept answer depends on (each says why)
NOT_COUNTED = {
    "alembic_version": "the schema's revision",
    CONTENT_VERSIONS: "the counters themselves",
    "runtime_state": "leases, pauses, slot overrides: no kept answer reads them",
    "audit_log": "the maintainer's audit: read afresh by /audit",
    "feeds": "feed polling state: read afresh",
    "reply_stamps": "the shared send budget's reply stamps (a write per reply)",
}
#: derived from the items, written only in the transactions that write items (which count)
DERIVED = {
    "items_short_terms": "search ranking lists: search_rank.add_items/remove_items, rebuild",
    "items_short_impacts": "search ranking lists: search_rank.add_items/remove_items, rebuild",
}
ARCHIVE_TABLES = {"issues", "items", "papers", "posts"}


def sqlite_file(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


@pytest.fixture
async def other(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    """A second container on the same database (another worker, the command line)."""
    container = build(settings, clock)
    try:
        yield container
    finally:
        await container.aclose()


def scoped(app: Container) -> tuple[BrowseService, SubscriberService]:
    """Browse and subscriber services on the scoped signals (as bot.app wires them)."""
    archive = data_version(app.sync_engine, ARCHIVE)
    browse = BrowseService(
        app.sync_sessions, app.clock, app.archive, app.settings.schedule, version=archive
    )
    subscribers = SubscriberService(
        app.sessions,
        app.clock,
        app.settings.schedule,
        version=data_version(app.sync_engine, SUBSCRIBERS),
        quiet_writes=archive,
    )
    return browse, subscribers


@contextmanager
def statements(app: Container) -> Iterator[list[str]]:
    """The SQL statements run on either engine while inside."""
    found: list[str] = []

    def record(*args: Any) -> None:
        found.append(args[2])

    engines = (app.engine.sync_engine, app.sync_engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def shell(settings: Settings, *sql: str) -> None:
    """Plain sqlite3 in this process (no SQLAlchemy, no bot code)."""
    conn = sqlite3.connect(sqlite_file(settings), isolation_level=None)
    try:
        for statement in sql:
            conn.execute(statement)
    finally:
        conn.close()


async def broadcasting(settings: Settings) -> int:
    """A drip post being broadcast (state sending) to 3 chats, 2 still pending: its id."""
    when = "2026-03-02 07:00:00.000000"
    conn = sqlite3.connect(sqlite_file(settings), isolation_level=None)
    try:
        cur = conn.execute(
            "INSERT INTO posts (kind, text, title, url, rank, slot, state, created_at, updated_at)"
            " VALUES ('paper', 'Broadcast drip', 'Drip', 'https://arxiv.org/abs/2603.07777', 1,"
            " ?, 'sending', ?, ?)",
            (when, when, when),
        )
        post = int(cur.lastrowid or 0)
        for chat, state in (("1", "sent"), ("2", "pending"), ("3", "pending")):
            conn.execute(
                "INSERT INTO deliveries (post_id, destination, state, attempts, due_at, sent_at,"
                " duplicates, updated_at) VALUES (?, ?, ?, 0, ?, ?, 0, ?)",
                (post, f"telegram:{chat}", state, when, when if state == "sent" else None, when),
            )
    finally:
        conn.close()
    return post


# --- the schema: every table is counted or says why not ---------------------------------------


def test_every_table_is_counted_or_exempt(settings: Settings) -> None:
    conn = sqlite3.connect(sqlite_file(settings))
    try:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
                "AND name NOT LIKE 'sqlite_%'"
            )
        }
        triggers: dict[str, set[str]] = {}
        for table, sql in conn.execute(
            "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cv_%'"
        ):
            scope = "archive" if "'archive'" in sql else "subscribers"
            triggers.setdefault(table, set()).add(scope)
        counters = dict(conn.execute(f"SELECT name, n FROM {CONTENT_VERSIONS}").fetchall())
    finally:
        conn.close()
    assert set(counters) == {ARCHIVE, SUBSCRIBERS}
    unclassified = tables - set(NOT_COUNTED) - set(DERIVED) - set(triggers)
    assert unclassified == set(), "a new table: count it in a migration or exempt it here"
    assert {t for t, s in triggers.items() if s == {"archive"}} == ARCHIVE_TABLES | {"deliveries"}
    assert {t for t, s in triggers.items() if s == {"subscribers"}} == {"subscribers"}


async def test_kept_answers_read_only_counted_tables(app: Container) -> None:
    """Every table a browsing answer's SQL reads (SQLite's authorizer sees them all, the
    search's raw cursors included) bumps the archive counter, or is derived from the items
    in the same transactions: none can change unseen."""
    read: set[str] = set()

    def authorizer(action: int, arg1: str | None, _a2: Any, db: str | None, _t: Any) -> int:
        if action == sqlite3.SQLITE_READ and arg1 and db == "main":
            read.add(arg1)
        return sqlite3.SQLITE_OK

    def on_connect(dbapi: Any, _record: Any) -> None:
        raw = getattr(dbapi, "driver_connection", dbapi)
        raw.set_authorizer(authorizer)

    app.sync_engine.dispose()  # connections opened from now on carry the authorizer
    event.listen(app.sync_engine, "connect", on_connect)
    await store(
        app,
        weekly("2026-W09", [item(1, "Small models reason", arxiv="2602.00091", pick=True)]),
        weekly("2026-W10", [item(1, "Robots fold laundry", arxiv="2603.00101", pick=True)]),
    )
    read.clear()
    browse, _ = scoped(app)
    await browse.week(None)
    await browse.week("2026-W09", language="en")
    await browse.latest()
    await browse.recent_picks(10)
    for query in ("models", "robots laundry", "2603.00101", "模型", "AI", "lau"):
        await browse.search_page(query, 1)
    assert "items" in read and "deliveries" in read  # the authorizer saw the reads
    internal = {t for t in read if is_fts_name(t) or t.startswith(("sqlite_", "pragma_"))}
    outside = read - internal - ARCHIVE_TABLES - set(DERIVED) - {"deliveries"}
    assert outside == set()


# --- what keeps the answers, what drops them ---------------------------------------------------


async def test_a_broadcast_in_progress_keeps_the_answers(
    app: Container, settings: Settings
) -> None:
    await store(app, weekly("2026-W10", [item(1, "Small models reason", arxiv="2603.00101")]))
    browse, subscribers = scoped(app)
    await subscribers.start(7, "en")
    post = await broadcasting(settings)
    view = await browse.week(None)
    page = await browse.search_page("models", 1)
    assert view.dripped == []  # being broadcast: not dripped yet
    known = await subscribers.get(7)
    later = "2026-03-02 07:00:01.000000"
    shell(  # what the ledger and the workers write meanwhile, each its own commit
        settings,
        f"UPDATE deliveries SET state = 'sent', sent_at = '{later}' WHERE post_id = {post} "
        "AND destination = 'telegram:2'",
        "INSERT INTO runtime_state (key, value, updated_at) VALUES ('lock:tick:x', '{}', "
        f"'{later}')",
        "UPDATE runtime_state SET value = '{\"n\": 1}' WHERE key = 'lock:tick:x'",
        f"INSERT INTO audit_log (at, actor, verb) VALUES ('{later}', 'maintainer', 'pause')",
    )
    with statements(app) as run:
        assert await browse.week(None) is view
        assert await browse.search_page("models", 1) is page
        assert await subscribers.get(7) is known
    assert run == []
    assert browse.cache.stats.resets == 0
    shell(  # the last delivery, then the post settles: sent
        settings,
        f"UPDATE deliveries SET state = 'sent', sent_at = '{later}' WHERE post_id = {post}",
        f"UPDATE posts SET state = 'sent' WHERE id = {post}",
    )
    assert [e.headline for e in (await browse.week(None)).dripped] == ["Broadcast drip"]


async def test_a_late_delivery_of_a_sent_post_is_seen(app: Container, settings: Settings) -> None:
    """A sent post's delivery moving into this week (a resend of a late chat) changes /week."""
    await store(app, weekly("2026-W10", [item(1, "Small models reason", arxiv="2603.00101")]))
    browse, _ = scoped(app)
    post = await broadcasting(settings)
    last_week = "2026-02-20 11:00:00.000000"
    shell(
        settings,
        f"UPDATE deliveries SET state = 'sent', sent_at = '{last_week}' WHERE post_id = {post}",
        f"UPDATE posts SET state = 'sent' WHERE id = {post}",
    )
    assert (await browse.week(None)).dripped == []
    shell(
        settings,
        f"UPDATE deliveries SET sent_at = '2026-03-02 07:30:00.000000' WHERE id = "
        f"(SELECT min(id) FROM deliveries WHERE post_id = {post})",
    )
    assert [e.headline for e in (await browse.week(None)).dripped] == ["Broadcast drip"]


async def test_subscriber_changes_keep_the_archive_and_are_seen(
    app: Container, other: Container
) -> None:
    await store(app, weekly("2026-W10", [item(1, "Small models reason", arxiv="2603.00101")]))
    browse, subscribers = scoped(app)
    await subscribers.start(7, "en")
    view = await browse.week(None)
    await other.subscribers.update(7, receive="digest")  # another container, another connection
    await other.subscribers.start(8, "zh")
    with statements(app) as run:
        assert await browse.week(None) is view
    assert run == []
    found = await subscribers.get(7)
    assert found is not None and found.receive == "digest"
    kept = await subscribers.get(7)
    await store(other, weekly("2026-W11", [item(1, "Robots fold laundry", pick=True)]))
    with statements(app) as run:
        assert await subscribers.get(7) is kept  # an import leaves the subscribers' snapshots
    assert run == []
    assert (await browse.week(None)).key == "2026-W11"


async def test_archive_writes_of_every_kind_are_seen(
    app: Container, other: Container, settings: Settings
) -> None:
    await store(
        app,
        weekly("2026-W09", [item(1, "Old pick", arxiv="2602.00081", pick=True)]),
        weekly("2026-W10", [item(1, "Small models reason", arxiv="2603.00101", pick=True)]),
    )
    browse, _ = scoped(app)
    assert (await browse.week(None)).key == "2026-W10"
    assert (await browse.search_page("laundry", 1)).hits == []
    await store(other, weekly("2026-W11", [item(1, "Robots fold laundry", pick=True)]))
    assert (await browse.week(None)).key == "2026-W11"
    assert [h.headline for h in (await browse.search_page("laundry", 1)).hits] == [
        "Robots fold laundry"
    ]
    await other.archive.remove("2026-W11")
    assert (await browse.week(None)).key == "2026-W10"
    assert (await browse.search_page("laundry", 1)).hits == []
    shell(settings, "UPDATE items SET headline = 'Edited by hand' WHERE headline = 'Old pick'")
    assert [e.headline for e in await browse.recent_picks(10)][-1] == "Edited by hand"
    script = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute(\"UPDATE issues SET title = 'Edited elsewhere' WHERE key = '2026-W10'\")\n"
        "conn.commit()\n"
    )
    command = [sys.executable, "-c", script, str(sqlite_file(settings))]
    await asyncio.to_thread(subprocess.run, command, check=True)
    assert (await browse.week(None)).title == "Edited elsewhere"


# --- the watcher ------------------------------------------------------------------------------


def test_the_token_moves_only_with_its_scope(settings: Settings) -> None:
    archive = SqliteDataVersion(sqlite_file(settings), ARCHIVE)
    subscribers = SqliteDataVersion(sqlite_file(settings), SUBSCRIBERS)
    both = (archive.token(), subscribers.token())
    assert None not in both and (archive.token(), subscribers.token()) == both
    shell(
        settings,
        "INSERT INTO runtime_state (key, value, updated_at) VALUES ('k', 'v', '2026-03-02')",
    )
    assert (archive.token(), subscribers.token()) == both
    shell(
        settings,
        "INSERT INTO subscribers (chat_id, language, receive, timezone, state, subscribed, "
        "created_at, updated_at) VALUES (5, 'en', 'both', 'UTC', 'inactive', 0, "
        "'2026-03-02', '2026-03-02')",
    )
    assert archive.token() == both[0] and subscribers.token() != both[1]
    moved = subscribers.token()
    shell(settings, "UPDATE papers SET id = id")  # no paper: no row changed, nothing counted
    assert (archive.token(), subscribers.token()) == (both[0], moved)
    archive.close()
    subscribers.close()


def test_own_writes_are_counted_too(settings: Settings) -> None:
    """``write`` leaves this connection's data_version; the counter is read again anyway."""
    from sqlalchemy import text

    archive = SqliteDataVersion(sqlite_file(settings), ARCHIVE)
    before = archive.token()
    archive.write(
        lambda s: s.execute(text("UPDATE runtime_state SET value = value"))  # nothing counted
    )
    assert archive.token() == before
    archive.write(
        lambda s: s.execute(
            text(
                "INSERT INTO papers (identity, url, first_seen_at) VALUES "
                "('arxiv:2603.1', 'https://arxiv.org/abs/2603.1', '2026-03-02')"
            )
        )
    )
    assert archive.token() != before
    archive.close()


def test_without_the_counters_every_commit_moves_the_token(settings: Settings) -> None:
    """A database whose counters are gone (not upgraded, or the row deleted): never kept
    past any commit."""
    archive = SqliteDataVersion(sqlite_file(settings), ARCHIVE)
    first = archive.token()
    shell(settings, f"DELETE FROM {CONTENT_VERSIONS} WHERE name = 'archive'")
    assert archive.token() != archive.token()  # no counter to trust: nothing kept
    shell(
        settings,
        *(
            f"DROP TRIGGER {name}"
            for (name,) in sqlite3.connect(sqlite_file(settings)).execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cv_%'"
            )
        ),
        f"DROP TABLE {CONTENT_VERSIONS}",
    )
    fallback = archive.token()
    assert fallback not in (None, first) and archive.token() == fallback
    shell(settings, "INSERT INTO runtime_state (key, value, updated_at) VALUES ('k', 'v', 'x')")
    assert archive.token() != fallback  # data_version alone: any commit
    archive.close()


def test_unknown_scope_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        SqliteDataVersion(tmp_path / "x.db", "everything")
