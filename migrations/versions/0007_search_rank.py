"""search ranking over the whole archive (issue 7) -- owned by the search-ranking helper

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 04:05:00.000000

SQLite only (like the FTS5 tables, and named after the word index so that the schema check
leaves them out, see ``bot.store.fts``): the word index's words with their item counts, and
the impact lists of the common ones (``bot.store.search_rank``). An existing archive's are
built here, from the word index itself.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = (
    """CREATE TABLE items_short_terms (
        term TEXT NOT NULL PRIMARY KEY,
        docs INTEGER NOT NULL,
        floor REAL,
        ref_length REAL NOT NULL DEFAULT 1.0,
        pending INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    """CREATE TABLE items_short_impacts (
        term TEXT NOT NULL,
        impact REAL NOT NULL,
        item_id INTEGER NOT NULL,
        PRIMARY KEY (term, impact, item_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX items_short_impacts_item ON items_short_impacts (item_id)",
    """CREATE TRIGGER items_short_impacts_ad AFTER DELETE ON items BEGIN
        DELETE FROM items_short_impacts WHERE item_id = old.id;
    END""",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS items_short_impacts_ad",
    "DROP TABLE IF EXISTS items_short_impacts",
    "DROP TABLE IF EXISTS items_short_terms",
)


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for statement in SQLITE_UP:
        op.execute(statement)
    # the lists are derived data: the code that keeps them on import builds them here too
    from bot.store.search_rank import rebuild

    rebuild(op.get_bind().connection.cursor())


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    for statement in SQLITE_DOWN:
        op.execute(statement)
