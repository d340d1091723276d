"""Database trouble in words: a locked, read-only, full or unreachable database is one line
that names the database (password masked) and says what to do; never a traceback."""

from __future__ import annotations

import sqlite3

from bot.store.sqlite_conn import BUSY_TIMEOUT_MS

_KNOWN = (
    (
        ("database is locked", "database table is locked", "lock timeout", "could not obtain lock"),
        "is locked by another process beyond the {busy:g} s busy timeout: nothing was changed; "
        "try again (is a long import or another digestbot running?)",
    ),
    (
        ("readonly database", "read-only file system", "read-only"),
        "cannot be written (read-only file or file system): nothing was changed; check the "
        "permissions of the file and its folder",
    ),
    (
        ("database or disk is full", "no space left", "disk full"),
        "has no room left (disk full): nothing was changed; free some space and try again",
    ),
    (
        ("unable to open database file",),
        "cannot be opened: check that its folder exists and is writable",
    ),
    (
        ("file is not a database", "file is encrypted"),
        "is not a SQLite database: point DIGESTBOT_DATABASE_URL at your digestbot database",
    ),
    (
        (
            "connection refused",
            "could not connect",
            "connection failed",
            "server closed the",
            "timeout expired",
            "name or service not known",
            "could not translate host",
        ),
        "cannot be reached: check that the server runs and DIGESTBOT_DATABASE_URL",
    ),
)


def database_problem(exc: BaseException, where: str) -> str | None:
    """One line for a database error (``where`` names the database), or None when ``exc`` is
    not one: SQLAlchemy's, or sqlite3's own (SQLite reads run on the DBAPI connection)."""
    orig: BaseException | None
    if isinstance(exc, sqlite3.DatabaseError):
        orig = exc
    else:
        from sqlalchemy.exc import DBAPIError

        if not isinstance(exc, DBAPIError):
            return None
        orig = exc.orig
    detail = str(orig).strip().splitlines()[0] if orig is not None else ""
    lowered = str(orig).lower()
    for needles, advice in _KNOWN:
        if any(n in lowered for n in needles):
            return f"the database {where} " + advice.format(busy=BUSY_TIMEOUT_MS / 1000)
    return f"database error on {where}: {detail or type(exc).__name__}"
