"""Migrations == models, on the run's store (and PostgreSQL when the local service answers)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.store.db import sync_url
from bot.store.migrate import check, schema_revision, upgrade

VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
#: the newest revision file's number, read independently of alembic and bot.store.revision
LATEST = sorted(VERSIONS.glob("[0-9]*.py"))[-1].name[:4]


def test_upgrade_head_leaves_no_autogenerate_diff(blank_db_url: str) -> None:
    url = blank_db_url
    before = check(url)
    assert not before.ok and before.current is None and before.differences
    upgrade(url)
    after = check(url)
    assert after.ok, after.differences
    assert after.current == after.head == LATEST


@pytest.mark.sqlite_only("the SQLite database file's mode and its WAL journal")
def test_database_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "private.db"
    upgrade(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_drift_is_detected(blank_db_url: str) -> None:
    url = blank_db_url
    upgrade(url)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE papers ADD COLUMN stray INTEGER"))
    engine.dispose()
    report = check(url)
    assert not report.ok
    assert any("stray" in d for d in report.differences)




@pytest.mark.postgres
def test_postgres_migrations_match_models(pg_url: str) -> None:
    upgrade(pg_url)
    report = check(pg_url)
    assert report.ok, report.differences
    assert schema_revision(pg_url) == (LATEST, LATEST)


@pytest.mark.postgres
async def test_archive_and_search_work_on_postgres(pg_url: str) -> None:
    from datetime import UTC, datetime

    from bot.app import build
    from bot.clock import FrozenClock
    from bot.config import load_settings
    from tests.builders import item, store, weekly

    upgrade(pg_url)
    app = build(load_settings(database_url=pg_url), FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    try:
        await store(
            app,
            weekly(
                "2026-W10",
                [
                    item(1, "使用小波变换减小模型", arxiv="2601.00001", pick=True),
                    item(2, "Transformers for tables", arxiv="2601.00002", section="articles"),
                ],
            ),
        )
        assert [h.headline for h in (await app.archive.search("小波")).hits] == [
            "使用小波变换减小模型"
        ]
        assert [h.paper for h in (await app.archive.search("transformer")).hits] == [
            "arxiv:2601.00002"
        ]
        hostile = await app.archive.search('"; DROP TABLE items; --')  # text, never SQL
        assert hostile.relaxed  # no item has every word; "table" is a word of one item
        assert [h.headline for h in hostile.hits] == ["Transformers for tables"]
        assert [i.key for i in await app.archive.issues()] == ["2026-W10"]
        report = await app.queue.enqueue_issues(["2026-W10"])
        assert len(report.papers) == 2 and len(report.digests) == 1
    finally:
        await app.aclose()
