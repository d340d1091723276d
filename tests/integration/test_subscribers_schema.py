"""The 0003 migration: subscribers table up, down and up again; the schema matches the models."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from bot.store.db import sync_url
from bot.store.migrate import alembic_config, check, upgrade
from tests.integration.test_migrations import LATEST


def test_subscribers_migration_round_trip(blank_db_url: str) -> None:
    url = blank_db_url
    upgrade(url)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:  # a chat id beyond 32 bits survives
        conn.execute(
            text(
                "INSERT INTO subscribers (chat_id, language, receive, timezone, state, subscribed,"
                " created_at, updated_at) VALUES (-1001234567890123, 'zh', 'both', 'UTC',"
                " 'active', TRUE, '2026-03-02 00:00:00', '2026-03-02 00:00:00')"
            )
        )
        assert conn.execute(text("SELECT chat_id FROM subscribers")).scalar() == -1001234567890123
    command.downgrade(alembic_config(url), "0002")
    assert "subscribers" not in inspect(engine).get_table_names()
    upgrade(url)
    assert "subscribers" in inspect(engine).get_table_names()
    engine.dispose()
    report = check(url)
    assert report.ok and report.current == LATEST, report.differences
