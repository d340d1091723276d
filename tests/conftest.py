"""Shared fixtures: an isolated environment, a migrated temporary database, a frozen clock."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _pytest.logging import LogCaptureHandler

from bot.app import Container, build
from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'test.db'}"
    upgrade(url)
    return url


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


PG_ADMIN = os.environ.get("DIGESTBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local service (dropped afterwards), as a
    ``postgresql://`` URL; skipped, saying what it needs, when the service does not answer."""
    import uuid

    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"digestbot_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the service is optional on developer machines
        pytest.skip(
            "needs the PostgreSQL service (127.0.0.1:5432 or DIGESTBOT_TEST_PG): "
            f"{exc.__class__.__name__}"
        )
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
