"""Small builders for test data (no parsing involved)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from bot.app import Container
from bot.domain.model import ParsedIssue, ParsedItem, Section
from bot.store import archive as repo

#: the SQLite case of a test parametrised over both stores: the SQLite run covers it, and the
#: PostgreSQL run skips it (its other case is the PostgreSQL one)
SQLITE_SIDE = pytest.mark.sqlite_only("the SQLite case of a test parametrised over both stores")

# sandbox credentials: accepted by the fake servers only, never real
TELEGRAM_TOKEN = "123456789:AAHsandboxTokenForTests_0123456789ab"
X_KEYS = {
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
    "access_token": "1700000000000000001-sandboxAccessToken",
    "access_token_secret": "sandbox-access-token-secret",
}


def item(
    pos: int,
    headline: str,
    *,
    arxiv: str | None = None,
    url: str | None = None,
    section: Section = "papers",
    pick: bool = False,
    title: str | None = None,
    summary: str = "",
) -> ParsedItem:
    if arxiv:
        url = f"https://arxiv.org/abs/{arxiv}"
    paper = f"arxiv:{arxiv}" if arxiv else url
    return ParsedItem(pos, section, headline, title, url, paper, summary, (), pick)


def weekly(key: str, items: list[ParsedItem], *, url: str | None = None) -> ParsedIssue:
    year, week = int(key[:4]), int(key[-2:])
    start = date.fromisocalendar(year, week, 1)
    return ParsedIssue(
        key=key,
        kind="weekly",
        year=year,
        week=week,
        month=None,
        title=f"ML news {key}",
        url=url or f"https://medium.com/@demo/ml-news-{key.lower()}",
        start=start,
        end=date.fromisocalendar(year, week, 7),
        items=tuple(items),
        picks=tuple(i.paper for i in items if i.pick and i.paper),
    )


def monthly(key: str, items: list[ParsedItem]) -> ParsedIssue:
    year, month = int(key[:4]), int(key[5:])
    return ParsedIssue(
        key=key,
        kind="monthly",
        year=year,
        week=None,
        month=month,
        title=f"ML news {key}",
        url=f"https://medium.com/@demo/ml-news-{key}",
        start=date(year, month, 1),
        end=date(year, month, 28),
        items=tuple(items),
        picks=(),
    )


async def store(app: Container, *issues: ParsedIssue) -> None:
    for issue in issues:
        async with app.sessions.begin() as session:
            await session.run_sync(
                repo.upsert_issue, issue, source="test", digest=str(hash(issue)), now=app.clock()
            )


async def add_subscribers(
    app: Container,
    chats: Sequence[int],
    now: datetime,
    *,
    receive: str = "both",
    timezone: str = "UTC",
) -> None:
    """Active subscribers for these chats, inserted in batches (thousands in a test)."""
    from sqlalchemy import insert

    from bot.store.models import Subscriber

    rows = [
        {
            "chat_id": chat,
            "language": "en",
            "receive": receive,
            "timezone": timezone,
            "state": "active",
            "subscribed": True,
            "created_at": now,
            "updated_at": now,
        }
        for chat in chats
    ]
    async with app.sessions.begin() as session:
        for start in range(0, len(rows), 500):
            await session.execute(insert(Subscriber).values(rows[start : start + 500]))


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_bench_quick(script: str, cwd: Path) -> str:
    """Run ``benchmarks/<script> --quick`` in ``cwd``; its output (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        cwd=cwd,
        timeout=300,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@contextmanager
def sync_connection(db_url: str) -> Iterator[Connection]:
    """A short-lived synchronous connection (one transaction, committed) to ``db_url``, any
    store, for tests that look at the database beside another process; a SQLite file is
    created if it is not there yet."""
    from sqlalchemy import create_engine, pool

    from bot.store.db import sync_url

    engine = create_engine(sync_url(db_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def execute(db_url: str, *statements: str) -> None:
    """Run plain SQL ``statements`` in one transaction on ``db_url``."""
    from sqlalchemy import text

    with sync_connection(db_url) as conn:
        for sql in statements:
            conn.execute(text(sql))


def fetch(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Every row plain SQL ``sql`` returns on ``db_url`` (none for an UPDATE, committed)."""
    from sqlalchemy import text

    with sync_connection(db_url) as conn:
        result = conn.execute(text(sql))
        return [tuple(row) for row in result] if result.returns_rows else []


def scalar(db_url: str, sql: str) -> Any:
    """The first column of the first row ``sql`` returns on ``db_url``."""
    from sqlalchemy import text

    with sync_connection(db_url) as conn:
        return conn.execute(text(sql)).scalar()


def dump(db_url: str) -> str:
    """Every row of every table of ``db_url`` (any store) as text, one row a line: what a
    ``grep`` through the database would see."""
    from sqlalchemy import MetaData, select

    with sync_connection(db_url) as conn:
        tables = MetaData()
        tables.reflect(conn)
        return "\n".join(
            f"{table.name}: {tuple(row)!r}"
            for table in tables.sorted_tables
            for row in conn.execute(select(table))
        )
