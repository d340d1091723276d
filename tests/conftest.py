"""Shared fixtures: an isolated environment, a migrated temporary database, a frozen clock.

The store switch: ``DIGESTBOT_TEST_STORE=postgresql`` runs the whole suite on PostgreSQL (the
default, ``sqlite``, gives each test a SQLite file). On the PostgreSQL run ``db_url`` (and so
``settings``, ``app``, the e2e rigs and the subprocess sandboxes) is a fresh database cloned
from a template migrated once per session, dropped after the test; the server is the one
``DIGESTBOT_TEST_PG`` names (an admin URL; default: the local service, database ``test``).
Tests SQLite-specific by nature carry ``@pytest.mark.sqlite_only("why")``: the PostgreSQL run
skips them with that reason and counts them at the end.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _pytest.logging import LogCaptureHandler
from _pytest.terminal import TerminalReporter
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import URL, make_url

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

STORES = ("sqlite", "postgresql")
#: the store of this run's ``db_url`` (read at import: ``_isolated_env`` clears DIGESTBOT_*)
STORE = os.environ.get("DIGESTBOT_TEST_STORE", "").strip().lower() or "sqlite"
PG_ADMIN = os.environ.get("DIGESTBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: on CI an absent PostgreSQL service is a failure, never a skip
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
_SQLITE_ONLY: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only(reason): SQLite-specific by nature (FTS5 internals, the SQLAlchemy-free "
        "fast path, pragmas and locking, the database file); skipped on the PostgreSQL run",
    )
    if STORE not in STORES:
        raise pytest.UsageError(f"DIGESTBOT_TEST_STORE={STORE!r}: use one of {', '.join(STORES)}")


def pytest_report_header(config: pytest.Config) -> str:
    if STORE == "sqlite":
        return "store: sqlite (DIGESTBOT_TEST_STORE=postgresql runs the suite on PostgreSQL)"
    return f"store: postgresql on {_admin_url().render_as_string(hide_password=True)}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if STORE != "postgresql":
        return
    try:
        with _admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        pytest.exit(
            "DIGESTBOT_TEST_STORE=postgresql, but PostgreSQL does not answer at "
            f"{_admin_url().render_as_string(hide_password=True)} (set DIGESTBOT_TEST_PG): "
            f"{exc.__class__.__name__}: {first}",
            returncode=3,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _SQLITE_ONLY.clear()
    for test in items:
        marker = test.get_closest_marker("sqlite_only")
        if marker is None:
            continue
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason")
        if not reason:
            raise pytest.UsageError(f"{test.nodeid}: sqlite_only needs a reason")
        _SQLITE_ONLY.append(test.nodeid)
        if STORE == "postgresql":
            test.add_marker(pytest.mark.skip(reason=f"SQLite-specific: {reason}"))


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if _SQLITE_ONLY:
        what = "skipped on this run" if STORE == "postgresql" else "PostgreSQL run skips them"
        terminalreporter.write_line(
            f"store {STORE}: {len(_SQLITE_ONLY)} sqlite_only tests collected ({what})"
        )


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("DIGESTBOT_"):
            monkeypatch.delenv(key)
    # the default database lives in the per-user data folder: never the real one in tests
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / "data"))
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``setup_logging`` (the CLI's ``main`` calls it) replaces and closes the root handlers and
    sets levels and filters process-wide: put pytest's handlers, every level and every filter
    back after each test, and close what the test installed, so nothing leaks into the next."""
    root = logging.getLogger()
    manager = logging.Logger.manager
    session = [h for h in root.handlers if not isinstance(h, LogCaptureHandler)]
    level = root.level
    loggers = {
        name: (logger.level, logger.filters[:])
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
    }
    yield
    phase = [h for h in root.handlers if isinstance(h, LogCaptureHandler)]  # pytest's own
    for handler in root.handlers:
        if handler not in phase and handler not in session:
            handler.close()
    root.handlers[:] = [*session, *phase]
    root.setLevel(level)
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.level, logger.filters[:] = loggers.get(name, (logging.NOTSET, []))
    manager._clear_cache()


@pytest.fixture
def db_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database of the run's store, for one test."""
    if STORE == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
        return
    clones: _Clones = request.getfixturevalue("_pg_clones")
    name = clones.take()
    try:
        yield _database_url(name)
    finally:
        clones.give_back(name)


@pytest.fixture
def blank_db_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the run's store that nothing has touched yet: no tables, no revision."""
    if STORE == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(database_url=db_url)


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Container]:
    container = build(settings, clock)
    try:
        yield container
    finally:
        await container.aclose()


# --- PostgreSQL ------------------------------------------------------------------------------

_ENGINES: dict[str, Engine] = {}


def _admin_url() -> URL:
    return make_url(PG_ADMIN).set(drivername="postgresql+psycopg")


def _admin() -> Engine:
    """An autocommit engine on the admin database (CREATE and DROP DATABASE), made once."""
    if "admin" not in _ENGINES:
        _ENGINES["admin"] = create_engine(
            _admin_url(), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
        )
    return _ENGINES["admin"]


def _fresh_name(kind: str = "") -> str:
    """A new database name that starts with the admin database's name and an underscore, so
    whoever owns that database (``.ci/run``) can drop what a killed run left behind."""
    prefix = (_admin_url().database or "digestbot")[:30]
    return f"{prefix}_{kind}{uuid.uuid4().hex[:12]}"


def _database_url(name: str) -> str:
    """The ``postgresql://`` URL of database ``name`` on the admin URL's server."""
    url = _admin_url().set(drivername="postgresql", database=name)
    return url.render_as_string(hide_password=False)


def _create(name: str, template: str | None = None) -> str:
    copy = f' TEMPLATE "{template}" STRATEGY WAL_LOG' if template else ""
    with _admin().connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    return name


def _drop(name: str) -> None:
    """Drop ``name`` even when a test left connections or processes on it."""
    with _admin().connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _pg_database() -> Iterator[str]:
    """A new, empty database, dropped afterwards."""
    name = _create(_fresh_name())
    try:
        yield _database_url(name)
    finally:
        _drop(name)


class _Clones:
    """Copies of the migrated template, one per test. The server's work runs beside the tests
    on two background threads: the next copy is made while a test runs, and the databases
    of finished tests are dropped on the other; ``close`` waits for both and reports a drop
    that failed."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.copier = ThreadPoolExecutor(1, thread_name_prefix="pg-copy")
        self.dropper = ThreadPoolExecutor(1, thread_name_prefix="pg-drop")
        self.ahead: Future[str] | None = None
        self.drops: list[Future[None]] = []

    def _clone(self) -> Future[str]:
        return self.copier.submit(_create, _fresh_name(), self.template)

    def take(self) -> str:
        name = (self.ahead or self._clone()).result()
        self.ahead = self._clone()
        return name

    def give_back(self, name: str) -> None:
        self.drops = [d for d in self.drops if not d.done() or d.exception() is not None]
        self.drops.append(self.dropper.submit(_drop, name))

    def close(self) -> None:
        if self.ahead is not None:
            with suppress(Exception):
                self.give_back(self.ahead.result())
        self.copier.shutdown(wait=True)
        self.dropper.shutdown(wait=True)
        for drop in self.drops:
            drop.result()


@pytest.fixture(scope="session")
def _pg_clones() -> Iterator[_Clones]:
    """A database migrated to head once per session; every test's database is a copy."""
    template = _create(_fresh_name("tmpl_"))
    clones = _Clones(template)
    try:
        upgrade(_database_url(template))
        yield clones
    finally:
        try:
            clones.close()
        finally:
            _drop(template)


@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[Container]:
    """A container on a fresh migrated PostgreSQL database, its clock at 2026-03-02 00:00 UTC
    (whatever store the run is on: for the tests of PostgreSQL's own paths)."""
    upgrade(pg_url)
    app = build(load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    try:
        yield app
    finally:
        await app.aclose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards), as a ``postgresql://`` URL.
    Skipped, saying what it needs, when the service does not answer; on CI and on the
    PostgreSQL run that is a failure instead."""
    try:
        with _admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the service is optional on developer machines
        message = (
            "needs the PostgreSQL service (127.0.0.1:5432 or DIGESTBOT_TEST_PG): "
            f"{exc.__class__.__name__}"
        )
        if IN_CI or STORE == "postgresql":
            pytest.fail(message)
        pytest.skip(message)
    with _pg_database() as url:
        yield url
