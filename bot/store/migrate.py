"""Alembic from code: upgrade to head; check that database, migrations and models agree."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from bot.resources import migrations_dir
from bot.store.db import install_sqlite_pragmas, prepare_sqlite_file, sync_url
from bot.store.fts import include_name
from bot.store.models import Base


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


@dataclass(frozen=True, slots=True)
class DriftReport:
    current: str | None
    head: str | None
    differences: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.current == self.head and not self.differences


def check(database_url: str) -> DriftReport:
    """Compare the database's revision with head, and its schema with the models."""
    prepare_sqlite_file(database_url)
    script = ScriptDirectory.from_config(alembic_config(database_url))
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    install_sqlite_pragmas(engine)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_name": include_name}
            ctx = MigrationContext.configure(conn, opts=opts)
            current = ctx.get_current_revision()
            diffs = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    return DriftReport(current, script.get_current_head(), tuple(str(d) for d in diffs))


def schema_revision(database_url: str) -> tuple[str | None, str | None]:
    """(current revision of the database, head revision of the migrations)."""
    prepare_sqlite_file(database_url)
    script = ScriptDirectory.from_config(alembic_config(database_url))
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current, script.get_current_head()
