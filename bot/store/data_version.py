"""Has the database changed? A token that moves whenever anything was committed, by any
connection of any process: what read caches compare before serving an answer.

SQLite: ``PRAGMA data_version`` of one private connection that never writes. Its value changes
whenever another connection (this process or another) committed since the last look; an empty
transaction does not move it. The check reads the WAL index (shared memory), no table: about
ten microseconds, so it runs on the caller's thread (the event loop) instead of a worker-thread
hop. A busy or broken check gives a token equal to nothing (the caller reads the database).

The connection's *own* commits do not move its ``data_version``: ``SqliteDataVersion.write``
runs a transaction on it, for writes that the answers kept under this token never read (a
subscriber's settings do not change the archive's answers), so that they do not empty them.

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
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from bot.store.sqlite_conn import BUSY_TIMEOUT_MS, apply_pragmas

logger = logging.getLogger(__name__)

_CHECK = "PRAGMA data_version"
_T = TypeVar("_T")


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
    """``PRAGMA data_version`` of a private connection to ``path`` (opened when first used).

    ``token`` never waits: while ``write`` holds the connection (a worker thread), it answers
    "unknown" (the caller reads the database)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._conn: sqlite3.Connection | None = None
        self._generation = 0  # a reopened connection counts from scratch: never equal tokens
        self._unknown = itertools.count()

    def token(self) -> Hashable | None:
        if not self._lock.acquire(blocking=False):
            return ("unknown", next(self._unknown))
        try:
            conn = self._connection()
            row = conn.execute(_CHECK).fetchone()
            return (self._generation, int(row[0]))
        except (sqlite3.Error, DBAPIError) as exc:  # busy, gone, broken: "changed", look later
            logger.debug("data_version check failed: %s", exc)
            self._drop()
            return ("unknown", next(self._unknown))
        finally:
            self._lock.release()

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
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        with self._lock:
            self._drop()


def data_version(engine: Engine) -> DataVersion:
    """The change signal for ``engine``'s database; closed when the engine is disposed."""
    path = _sqlite_file(engine.url)
    if path is None:
        return NoVersion()
    watcher = SqliteDataVersion(path)

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
