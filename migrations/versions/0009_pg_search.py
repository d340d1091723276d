"""PostgreSQL search ranked like SQLite's (issue 11) -- owned by the PostgreSQL helper

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 05:10:00.000000

PostgreSQL only (SQLite has its FTS5 word and trigram indexes since 0001): a tsvector of the
word index's own tokens per item with a GIN index, a pg_trgm index for in-word substrings and
the word vocabulary (``bot.store.search_pg``). An existing archive's items are indexed here.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from bot.store.search_pg import MIGRATION_UP, rebuild

    for statement in MIGRATION_UP:
        op.execute(statement)
    rebuild(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from bot.store.search_pg import MIGRATION_DOWN

    for statement in MIGRATION_DOWN:
        op.execute(statement)
