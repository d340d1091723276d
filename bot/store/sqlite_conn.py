"""SQLite files without SQLAlchemy: where a database URL points, how a connection is set up.

Shared by the engines (``bot.store.db``, through SQLAlchemy's connect event) and the commands
that read SQLite with the stdlib alone (the schema check, ``bot.cli.fast``), so both open the
file the same way.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

BUSY_TIMEOUT_MS = 5000
# Reads: the file mapped into memory (pages read in place, no read() call and copy per page;
# the mapping costs address space, and the pages touched count as the OS's file cache) and a
# page cache larger than SQLite's 2 MiB default, which one search over a large archive's word
# index overflows. Measured (150 searches of English words, Chinese words and word pairs, one
# connection each, alternated): 300,000 items mean 3.9 -> 3.3 ms, p95 18.2 -> 15.9 ms;
# 100,000 items mean 5.6 -> 5.0 ms.
MMAP_BYTES = 2 << 30  # SQLite's builds cap it at their SQLITE_MAX_MMAP_SIZE (often 2 GiB - 64 KiB)
CACHE_KIB = 32 * 1024

# SQLAlchemy's own URL grammar (sqlalchemy.engine.url._parse_url), for the parts used here
_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)


def sqlite_path(raw: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None: another backend, in-memory, or no file)."""
    found = _URL.match(raw)
    if found is None or found["name"].partition("+")[0] != "sqlite":
        return None
    database = unquote(found["database"]) if found["database"] is not None else None
    if database in (None, "", ":memory:"):
        return None
    return Path(database)


def url_password(raw: str) -> str | None:
    """The password in a database URL, as SQLAlchemy reads it (percent-decoded)."""
    found = _URL.match(raw)
    if found is None or not found["password"]:
        return None
    return unquote(found["password"])


def apply_pragmas(dbapi_connection: Any, busy_timeout_ms: int | None = None) -> None:
    """Every connection digestbot opens: WAL, foreign keys, busy timeout, synchronous NORMAL,
    the file memory-mapped and a larger page cache."""
    busy = BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.close()


def connect(path: Path) -> sqlite3.Connection:
    """A connection to an existing database file, set up as the engines set theirs up."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    apply_pragmas(conn)
    return conn
