"""``digestbot db copy``: move a whole installation between SQLite and PostgreSQL.

Every table of the models (archive, queue, ledger, runtime state, subscribers, audit, feeds)
is copied in foreign-key order, ids included, from one snapshot of the source into ONE
transaction on the target: either everything arrives or nothing does. Afterwards PostgreSQL's
id sequences are moved past the copied ids and the target's search index is rebuilt from its
items (SQLite: the word index and its ranking lists, the trigram index fills by trigger;
PostgreSQL: ``bot.store.search_pg``). The rows are counted on both sides before the commit;
any difference rolls the copy back.

Rules: the source must be at the migrations' head; a target without tables is upgraded to
it first; a target at another revision is refused (upgrade it with ``digestbot db upgrade``);
a target that already holds rows is refused unless ``replace`` (``--force``), which deletes
them in the same transaction. URLs are only ever shown with their password masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, pool, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import DatabaseError
from bot.store import migrate, revision, search_pg
from bot.store.db import install_sqlite_pragmas, prepare_sqlite_file, sqlite_path, sync_url
from bot.store.models import Base

BATCH = 1000


class CopyRefused(DatabaseError):
    """The copy cannot start: the message says which database and what to do."""


class CopyMismatch(DatabaseError):
    """The row counts differ after the copy (rolled back)."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True, slots=True)
class CopyReport:
    source: str  # described, password masked
    target: str
    revision: str
    tables: tuple[TableCount, ...]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.target for t in self.tables)


def table_names() -> list[str]:
    """The copied tables, parents before children."""
    return [t.name for t in Base.metadata.sorted_tables]


def _scrub(message: str, *urls: str) -> str:
    for url in urls:
        try:
            password = make_url(url).password
        except Exception:  # an unparsable URL has no password to hide
            continue
        if password:
            message = message.replace(str(password), "***")
    return message


def _engine(raw: str) -> Engine:
    """A sync engine whose transactions are real ones on SQLite too (BEGIN at the start, so
    the source is read from one snapshot and the target written in one transaction)."""
    prepare_sqlite_file(raw)
    engine = create_engine(sync_url(raw), poolclass=pool.NullPool)
    install_sqlite_pragmas(engine)
    if engine.dialect.name == "sqlite":

        def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself

        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

        event.listen(engine, "connect", _autocommit_driver)
        event.listen(engine, "begin", _begin)
    return engine


def _revision(raw: str) -> str | None:
    try:
        return revision.current_revision(raw)
    except revision.DatabaseUnavailable as exc:
        raise CopyRefused(str(exc), code=2) from None


def _missing_file(raw: str) -> bool:
    path = sqlite_path(raw)
    return path is not None and not path.exists()


def _prepare_target(source_rev: str, target_url: str, target_name: str) -> None:
    current = None if _missing_file(target_url) else _revision(target_url)
    if current is None:
        migrate.upgrade(target_url, source_rev)
        return
    if current != source_rev:
        raise CopyRefused(
            f"the target {target_name} is at revision {current}, the source at {source_rev}: "
            "run `digestbot db upgrade` on both first"
        )


def _counts(conn: Connection) -> dict[str, int]:
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        for t in Base.metadata.sorted_tables
    }


def _batches(conn: Connection, table_name: str, size: int) -> Iterator[list[dict[str, Any]]]:
    table = Base.metadata.tables[table_name]
    stmt = select(table).order_by(*table.primary_key.columns)
    result = conn.execution_options(yield_per=size).execute(stmt)
    for part in result.mappings().partitions(size):
        yield [dict(row) for row in part]


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: every id sequence continues after the largest copied id."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not True and not (
                column.autoincrement == "auto" and column.type.python_type is int
            ):
                continue
            seq = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if seq is None:
                continue
            conn.execute(
                text(
                    f"SELECT setval(:seq, COALESCE((SELECT MAX({column.name}) "
                    f"FROM {table.name}), 0) + 1, false)"
                ),
                {"seq": seq},
            )


def _rebuild_search(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        search_pg.rebuild(conn)
        return
    from bot.domain.search import short_index_text
    from bot.store import search_rank

    conn.exec_driver_sql("DELETE FROM items_short")
    rows = conn.exec_driver_sql("SELECT id, headline, title, summary, url FROM items").all()
    if rows:  # an empty list would run the statement once, without parameters
        conn.exec_driver_sql(
            "INSERT INTO items_short(rowid, headline, title, summary, url) VALUES (?, ?, ?, ?, ?)",
            [(r[0], *(short_index_text(f) for f in r[1:])) for r in rows],
        )
    conn.exec_driver_sql("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
    cur = conn.connection.cursor()
    try:
        search_rank.rebuild(cur)  # type: ignore[arg-type]
    finally:
        cur.close()


def copy_database(
    source_url: str,
    target_url: str,
    *,
    replace: bool = False,
    batch: int = BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every table from ``source_url`` to ``target_url`` (see the module's rules)."""
    source_name, target_name = revision.describe(source_url), revision.describe(target_url)
    if source_name == target_name:
        raise CopyRefused(f"the source and the target are the same database ({source_name})")
    try:
        return _copy(source_url, target_url, source_name, target_name, replace, batch, progress)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        line = reason[0] if reason else type(exc).__name__
        raise DatabaseError(
            _scrub(
                f"the copy to {target_name} failed and was rolled back: {line}",
                source_url,
                target_url,
            )
        ) from None


def _copy(
    source_url: str,
    target_url: str,
    source_name: str,
    target_name: str,
    replace: bool,
    batch: int,
    progress: Callable[[str, int], None] | None,
) -> CopyReport:
    if _missing_file(source_url):
        raise CopyRefused(f"there is no database at {source_name}", code=2)
    source_rev = _revision(source_url)
    head = revision.head_revision()
    if source_rev is None or source_rev != head:
        raise CopyRefused(
            f"the source {source_name} is at revision {source_rev or 'none'}, the migrations' "
            f"head is {head}: run `digestbot db upgrade` on it first"
        )
    _prepare_target(source_rev, target_url, target_name)
    source, target = _engine(source_url), _engine(target_url)
    try:
        with _snapshot(source) as src, target.begin() as dst:
            before = _counts(src)
            existing = _counts(dst)
            if any(existing.values()):
                if not replace:
                    held = sum(existing.values())
                    raise CopyRefused(
                        f"the target {target_name} already holds {held} rows: copy into an "
                        "empty database, or add --force to replace its contents"
                    )
                for table in reversed(Base.metadata.sorted_tables):
                    dst.execute(table.delete())
            for name in table_names():
                table = Base.metadata.tables[name]
                done = 0
                for rows in _batches(src, name, batch):
                    dst.execute(table.insert(), rows)
                    done += len(rows)
                    if progress is not None:
                        progress(name, done)
            if dst.dialect.name == "postgresql":
                _reset_sequences(dst)
            _rebuild_search(dst)
            after = _counts(dst)
            tables = tuple(TableCount(n, before[n], after[n]) for n in table_names())
            report = CopyReport(source_name, target_name, source_rev, tables)
            if not report.ok:
                dst.rollback()
                wrong = ", ".join(f"{t.table} {t.source}->{t.target}" for t in tables if not t.ok)
                raise CopyMismatch(
                    f"row counts differ after the copy ({wrong}): rolled back, "
                    f"{target_name} is unchanged"
                )
    finally:
        source.dispose()
        target.dispose()
    return report


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only snapshot of the source (a repeatable-read transaction on PostgreSQL,
    one read transaction in SQLite's WAL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn
