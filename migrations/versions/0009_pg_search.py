"""PostgreSQL search ranked like SQLite's (issue 11) -- owned by the PostgreSQL helper

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 05:10:00.000000

PostgreSQL only (SQLite has its FTS5 word and trigram indexes since 0001): a tsvector of the
word index's own tokens per item with a GIN index, a pg_trgm index for in-word substrings and
the word vocabulary. The tables are filled by 0011 (``bot.store.search_pg.rebuild``), which
adds the columns, statistics and impact lists the ranking reads; the statements here are frozen.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE TABLE items_short_pg (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        doc TSVECTOR NOT NULL,
        body TEXT NOT NULL
    )""",
    'CREATE TABLE items_short_pg_words (term TEXT COLLATE "C" PRIMARY KEY)',
)
DOWN = ("DROP TABLE IF EXISTS items_short_pg_words", "DROP TABLE IF EXISTS items_short_pg")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in DOWN:
        op.execute(statement)
