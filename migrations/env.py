"""Alembic environment: digestbot passes the connection or URL in through the Config."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from bot.store.db import install_sqlite_pragmas, prepare_sqlite_file, sync_url
from bot.store.fts import include_name
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata



def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    raw = config.get_main_option("sqlalchemy.url")
    assert raw, "digestbot sets sqlalchemy.url"
    prepare_sqlite_file(raw)
    engine = create_engine(sync_url(raw), poolclass=pool.NullPool)
    install_sqlite_pragmas(engine)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
