"""Content versions: what kept answers are read from, counted by triggers (issue 7) -- owned by
the commands helper

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 10:40:00.000000

SQLite only (PostgreSQL keeps no answers: nothing to do there). ``content_versions`` holds one
counter per scope of kept answers (``bot.store.data_version``): ``archive`` is bumped by every
insert, update and delete of the tables browsing answers are read from, and by a delivery
written for a post that is already sent (the week's "dripped" list); while a post is being
broadcast its deliveries (the ledger's many commits) bump nothing. The search's ranking lists
(``items_short_terms``, ``items_short_impacts``) and the FTS5 indexes are derived from the
items and only written in the transactions that write the items (import, removal, db copy):
counting their rows too would cost an import a third more CPU (a hundred list rows per item).
``subscribers`` is bumped by every change of a subscriber. Triggers, so that every writer
counts (other processes, older code, a plain sqlite3 shell). The table is not a model:
``bot.store.migrate`` leaves it out of the schema comparison, ``digestbot db copy`` does not
copy it (the target counts its own).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "content_versions"
#: scope -> the tables whose every change bumps it
COUNTED: dict[str, tuple[str, ...]] = {
    "archive": ("issues", "items", "papers", "posts"),
    "subscribers": ("subscribers",),
}
#: deliveries bump "archive" only when their post is sent (what browsing reads of them)
SENT_POST = "EXISTS (SELECT 1 FROM posts WHERE posts.id = {row}.post_id AND posts.state = 'sent')"
EVENTS = (("insert", "INSERT", "NEW"), ("update", "UPDATE", "NEW"), ("delete", "DELETE", "OLD"))


def _bump(scope: str) -> str:
    return f"UPDATE {TABLE} SET n = n + 1 WHERE name = '{scope}';"


def _triggers() -> list[tuple[str, str]]:
    """(name, CREATE TRIGGER statement) of every counting trigger."""
    found: list[tuple[str, str]] = []
    for scope, tables in COUNTED.items():
        for table in tables:
            for suffix, event, _row in EVENTS:
                name = f"cv_{table}_{suffix}"
                found.append(
                    (
                        name,
                        f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_bump(scope)} END",
                    )
                )
    for suffix, event, row in EVENTS:
        name = f"cv_deliveries_{suffix}"
        when = SENT_POST.format(row=row)
        statement = (
            f"CREATE TRIGGER {name} AFTER {event} ON deliveries "
            f"WHEN {when} BEGIN {_bump('archive')} END"
        )
        found.append((name, statement))
    return found


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE TABLE {TABLE} (name VARCHAR(32) PRIMARY KEY, n INTEGER NOT NULL)")
    for scope in COUNTED:
        op.execute(f"INSERT INTO {TABLE} (name, n) VALUES ('{scope}', 0)")
    for _name, statement in _triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, _statement in _triggers():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
