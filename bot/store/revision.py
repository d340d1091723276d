"""The schema check every command runs first, kept cheap: Alembic is not imported.

The database's revision is read from ``alembic_version`` (sqlite3 for SQLite files, SQLAlchemy
for PostgreSQL); the head revision is found by reading the ``revision``/``down_revision`` lines
of the migration files. ``bot.store.migrate`` (Alembic) remains the tool for ``db upgrade`` and
``db check``, and the answer when the files do not name exactly one head.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from bot.config import mask_url
from bot.resources import migrations_dir
from bot.store.sqlite_conn import sqlite_path

_ASSIGN = r"^{name}\s*(?::[^=\n]+)?=\s*(?P<value>.+?)\s*(?:#.*)?$"
_REVISION = re.compile(_ASSIGN.format(name="revision"), re.MULTILINE)
_DOWN = re.compile(_ASSIGN.format(name="down_revision"), re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


class DatabaseUnavailable(Exception):
    """The database cannot be opened or read: one line naming it and the reason."""


class DatabaseMissing(DatabaseUnavailable):
    """A SQLite file that does not exist yet (``db upgrade`` creates it)."""


def describe(database_url: str) -> str:
    """How messages name a database: the SQLite file's absolute path, else the URL with its
    password masked."""
    path = sqlite_path(database_url)
    return str(path.resolve()) if path is not None else mask_url(database_url)


def scan_head(versions: Path | None = None) -> str | None:
    """The head revision named by the migration files, or None when they do not name exactly
    one (a merge to make, or a file this scan cannot read: ask Alembic instead)."""
    folder = versions if versions is not None else migrations_dir() / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for file in folder.glob("*.py"):
        text = file.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            continue
        names = _QUOTED.findall(revision["value"])
        if len(names) != 1:
            return None
        revisions.add(names[0])
        parents.update(_QUOTED.findall(down["value"]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def head_revision() -> str | None:
    head = scan_head()
    if head is not None:
        return head
    from alembic.script import ScriptDirectory  # rare: Alembic's own answer

    from bot.store.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(database_url: str) -> str | None:
    """The database's Alembic revision (None: no tables yet). Never creates a SQLite file."""
    path = sqlite_path(database_url)
    if path is not None:
        return _sqlite_revision(path)
    if database_url.partition(":")[0].startswith("sqlite"):
        return None  # in-memory SQLite: always empty
    return _server_revision(database_url)


def _sqlite_revision(path: Path) -> str | None:
    where = path.resolve()
    if not where.exists():
        raise DatabaseMissing(f"there is no database at {where}")
    try:
        conn = sqlite3.connect(f"{where.as_uri()}?mode=rw", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"cannot open the database {where}: {exc}") from None
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if found is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"cannot read the database {where}: {exc}") from None
    finally:
        conn.close()
    return None if row is None else str(row[0])


def _server_revision(database_url: str) -> str | None:
    from sqlalchemy import create_engine, inspect, pool, text
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import sync_url

    where = mask_url(database_url)
    try:
        engine = create_engine(
            sync_url(database_url),
            poolclass=pool.NullPool,
            connect_args={"connect_timeout": 10},
        )
    except ModuleNotFoundError as exc:
        raise DatabaseUnavailable(
            f"cannot open the database {where}: install the {exc.name} package"
        ) from None
    except (SQLAlchemyError, ValueError) as exc:
        raise DatabaseUnavailable(f"cannot open the database {where}: {_first_line(exc)}") from None
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        reason = _first_line(getattr(exc, "orig", None) or exc)
        raise DatabaseUnavailable(f"cannot open the database {where}: {reason}") from None
    finally:
        engine.dispose()
    return None if value is None else str(value)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
