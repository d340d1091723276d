"""Engines and sessions: SQLite (WAL, foreign keys, busy timeout, file mode 0600) or PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.errors import SettingsError
from bot.store.sqlite_conn import BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS
from bot.store.sqlite_conn import apply_pragmas
from bot.store.sqlite_conn import sqlite_path as sqlite_path

# PostgreSQL's JIT compiles a statement planned above jit_above_cost, for tens of ms: the
# search's statements run in a few ms, so compiling them never pays back (libpq options: no
# extra round trip per connection)
PG_CONNECT_ARGS: dict[str, Any] = {"options": "-c jit=off"}


class DatabaseURLError(SettingsError, ValueError):
    """The database URL names a backend digestbot does not support."""


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseURLError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return backend


def async_url(raw: str) -> URL:
    url = make_url(raw)
    driver = {"sqlite": "aiosqlite", "postgresql": "psycopg"}[_backend(url)]
    return url.set(drivername=f"{url.get_backend_name()}+{driver}")


def sync_url(raw: str) -> URL:
    url = make_url(raw)
    driver = {"sqlite": "pysqlite", "postgresql": "psycopg"}[_backend(url)]
    return url.set(drivername=f"{url.get_backend_name()}+{driver}")


def prepare_sqlite_file(raw: str) -> None:
    """Create the database file (and its folder) readable by its owner only."""
    path = sqlite_path(raw)
    if path is None or path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    apply_pragmas(dbapi_connection, BUSY_TIMEOUT_MS)


def install_sqlite_pragmas(sync_engine: Any) -> None:
    if sync_engine.dialect.name == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_pragmas)


def make_engine(raw: str) -> AsyncEngine:
    prepare_sqlite_file(raw)
    url = async_url(raw)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["connect_args"] = dict(PG_CONNECT_ARGS)
    engine = create_async_engine(url, **kwargs)
    install_sqlite_pragmas(engine.sync_engine)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_sync_engine(raw: str) -> Engine:
    """A synchronous engine on the same database, for bulk work run in a worker thread."""
    prepare_sqlite_file(raw)
    url = sync_url(raw)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = dict(PG_CONNECT_ARGS)
    engine = create_engine(url, **kwargs)
    install_sqlite_pragmas(engine)
    return engine
