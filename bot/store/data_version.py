"""Has the database changed? A token that moves whenever something was committed, by any
connection of any process: what read caches compare before serving an answer.

SQLite: ``PRAGMA data_version`` of one private connection that never writes. Its value changes
whenever another connection (this process or another) committed since the last look; an empty
transaction does not move it. The check reads the WAL index (shared memory), no table: about
ten microseconds, so it runs on the caller's thread (the event loop) instead of a worker-thread
hop. A busy or broken check gives a token equal to nothing (the caller reads the database).

**Scopes** (migration 0015): ``data_version`` moves with *every* commit, and during a broadcast
the delivery ledger commits many times a second, so answers kept under it would hardly ever be
served. A scoped watcher (``ARCHIVE``, ``SUBSCRIBERS``) also reads a counter of the
``content_versions`` table that SQLite triggers bump on every write to the tables that scope's
answers are read from (archive: issues, items, papers, posts, and a delivery of a post
already sent, the search indexes being written with the items; subscribers: the subscribers
table). Triggers, not the bot's
code, so that every writer is seen: another process, an old version of the bot, a plain
``sqlite3`` shell. The counter is only read when ``data_version`` moved (its cheap check stays
the gate), and a commit that did not touch the scope leaves the token as it was. A database
without the table (not upgraded yet) falls back to ``data_version`` alone.

The connection's *own* commits do not move its ``data_version``: ``SqliteDataVersion.write``
runs a transaction on it (subscriber settings, on the archive watcher), after which the counter
is read again at the next check, whatever the transaction wrote.

Other backends (PostgreSQL) and in-memory SQLite have no such signal: the token is ``None``,
which means "do not cache".
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from bot.store.sqlite_conn import BUSY_TIMEOUT_MS, apply_pragmas

logger = logging.getLogger(__name__)

_CHECK = "PRAGMA data_version"
_T = TypeVar("_T")
#: the counters' table (created by migration 0015 on SQLite; not a model: no other store has it)
CONTENT_VERSIONS: Final = "content_versions"
ARCHIVE: Final = "archive"  # what browsing answers read: issues, items, posts, search lists
SUBSCRIBERS: Final = "subscribers"  # subscriber snapshots
SCOPES: Final = (ARCHIVE, SUBSCRIBERS)
_COUNT = f"SELECT n FROM {CONTENT_VERSIONS} WHERE name = ?"


class DataVersion(Protocol):
    def token(self) -> Hashable | None:
        """Equal to an earlier token only when nothing was committed in between; None: no
        way to tell (never cache)."""
        ...

    def close(self) -> None: ...


class NoVersion:
    """A backend without a cheap change signal: every answer is read afresh."""

    def token(self) -> Hashable | None:
        return None

    def close(self) -> None:
        return None


class SqliteDataVersion:
    """``PRAGMA data_version`` of a private connection to ``path`` (opened when first used);
    with a ``scope`` (``ARCHIVE``, ``SUBSCRIBERS``), that scope's content counter, read again
    only when ``data_version`` moved.

    ``token`` never waits: while ``write`` holds the connection (a worker thread), it answers
    "unknown" (the caller reads the database)."""

    def __init__(self, path: Path, scope: str | None = None) -> None:
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")
        self._path = path
        self.scope = scope
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._conn: sqlite3.Connection | None = None
        self._generation = 0  # a reopened connection counts from scratch: never equal tokens
        self._unknown = itertools.count()
        self._seen: int | None = None  # data_version when the counter was last read
        self._counted: Hashable = None  # the token made from that read

    def token(self) -> Hashable | None:
        if not self._lock.acquire(blocking=False):
            return ("unknown", next(self._unknown))
        try:
            conn = self._connection()
            version = int(conn.execute(_CHECK).fetchone()[0])
            if self.scope is None:
                return (self._generation, version)
            if version != self._seen:  # something was committed: did it touch the scope?
                # data_version first, the counter second: a commit in between is counted now
                # and moves data_version for the next look (read again, found equal)
                counted = self._count(conn, version)
                if counted is None:
                    return ("unknown", next(self._unknown))
                self._counted, self._seen = counted, version
            return self._counted
        except (sqlite3.Error, DBAPIError) as exc:  # busy, gone, broken: "changed", look later
            logger.debug("data_version check failed: %s", exc)
            self._drop()
            return ("unknown", next(self._unknown))
        finally:
            self._lock.release()

    def _count(self, conn: sqlite3.Connection, version: int) -> Hashable | None:
        """The scope's counter as a token; None: no counter to trust (keep nothing)."""
        try:
            row = conn.execute(_COUNT, (self.scope,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return (self._generation, "data_version", version)  # not upgraded: every commit
        if row is None:  # the row was deleted: its triggers count nothing, keep nothing
            self._generation += 1  # and never match a token from before
            return None
        return (self._generation, self.scope, int(row[0]))

    def write(self, work: Callable[[Session], _T]) -> _T:
        """``work`` in one transaction on this connection, committed: blocking (run it in a
        worker thread). Its commit does not move this token; every other connection sees it.
        Only for rows that nothing kept under this token was read from."""
        with self._lock:
            conn = self._connection()
            assert self._engine is not None
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # a write waits its turn
            try:
                with Session(self._engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            finally:
                self._seen = None  # its own commit leaves data_version: read the counter again
                conn.execute("PRAGMA busy_timeout=0")

    def _connection(self) -> sqlite3.Connection:
        if self._engine is None:
            self._engine = create_engine("sqlite://", creator=self._open, poolclass=StaticPool)
        if self._conn is None:
            with self._engine.connect():  # opens it (the pool's one connection)
                pass
        assert self._conn is not None
        return self._conn

    def _open(self) -> sqlite3.Connection:
        # busy timeout 0: a check never waits for a lock (a busy database reads as "changed")
        conn = sqlite3.connect(self._path, timeout=0, check_same_thread=False)
        apply_pragmas(conn, busy_timeout_ms=0)
        self._conn = conn
        self._generation += 1
        return conn

    def _drop(self) -> None:
        engine, self._engine, self._conn = self._engine, None, None
        self._seen = None
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        with self._lock:
            self._drop()


def data_version(engine: Engine, scope: str | None = None) -> DataVersion:
    """The change signal for ``engine``'s database (``scope``: only the commits that wrote
    that scope's tables); closed when the engine is disposed."""
    path = _sqlite_file(engine.url)
    if path is None:
        return NoVersion()
    watcher = SqliteDataVersion(path, scope)

    def disposed(_engine: Any) -> None:
        watcher.close()

    event.listen(engine, "engine_disposed", disposed)
    return watcher


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)
