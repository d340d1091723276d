"""PostgreSQL search ranked with SQLite's bm25 and impact lists (issue 11) -- owned by the
PostgreSQL search helper

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 07:05:00.000000

PostgreSQL only: per item its token texts and length, the statistics (items, tokens), every
word with its item count (replacing 0009's vocabulary) and the impact lists of the common
words (``bot.store.search_pg``), with a trigger that takes removed items out of the counts.
Every item is indexed again here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCS = "items_short_pg"
TERMS = "items_short_pg_terms"
IMPACTS = "items_short_pg_impacts"
STATS = "items_short_pg_stats"
TOKEN_COLUMNS = ("tok_headline", "tok_title", "tok_summary", "tok_url")

SCHEMA = (
    f"ALTER TABLE {DOCS} ADD COLUMN length INTEGER NOT NULL DEFAULT 0, "
    + ", ".join(f"ADD COLUMN {c} TEXT NOT NULL DEFAULT ''" for c in TOKEN_COLUMNS),
    f'CREATE TABLE {TERMS} (term TEXT COLLATE "C" PRIMARY KEY, docs INTEGER NOT NULL, '
    "floor DOUBLE PRECISION, ref_length DOUBLE PRECISION NOT NULL DEFAULT 1.0, "
    "pending INTEGER NOT NULL DEFAULT 0)",
    f'CREATE TABLE {IMPACTS} (term TEXT COLLATE "C" NOT NULL, impact DOUBLE PRECISION NOT NULL, '
    "item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE, "
    "PRIMARY KEY (term, impact, item_id))",
    f"CREATE INDEX {IMPACTS}_item ON {IMPACTS} (item_id)",
    f"CREATE TABLE {STATS} (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "rows BIGINT NOT NULL, tokens BIGINT NOT NULL)",
    f"INSERT INTO {STATS} VALUES (1, 0, 0)",
    f"""CREATE FUNCTION {DOCS}_forget() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {STATS} SET rows = rows - g.n, tokens = tokens - g.len
        FROM (SELECT count(*) AS n, coalesce(sum(length), 0) AS len FROM gone) g;
        UPDATE {TERMS} t SET docs = t.docs - w.n FROM (
            SELECT w, count(*) AS n FROM gone, unnest(tsvector_to_array(gone.doc)) w GROUP BY w
        ) w WHERE t.term = w.w;
        DELETE FROM {TERMS} t WHERE t.docs <= 0
            AND t.term IN (SELECT unnest(tsvector_to_array(gone.doc)) FROM gone);
        RETURN NULL;
    END $$""",
    f"CREATE TRIGGER {DOCS}_forget AFTER DELETE ON {DOCS} REFERENCING OLD TABLE AS gone "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {DOCS}_forget()",
)
SCHEMA_DOWN = (
    f"DROP TRIGGER IF EXISTS {DOCS}_forget ON {DOCS}",
    f"DROP FUNCTION IF EXISTS {DOCS}_forget()",
    f"DROP TABLE IF EXISTS {IMPACTS}",
    f"DROP TABLE IF EXISTS {STATS}",
    f"DROP TABLE IF EXISTS {TERMS}",
    f"ALTER TABLE {DOCS} DROP COLUMN IF EXISTS length, "
    + ", ".join(f"DROP COLUMN IF EXISTS {c}" for c in TOKEN_COLUMNS),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from bot.store.search_pg import rebuild

    op.execute("DROP TABLE IF EXISTS items_short_pg_words")
    for statement in SCHEMA:
        op.execute(statement)
    rebuild(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('CREATE TABLE items_short_pg_words (term TEXT COLLATE "C" PRIMARY KEY)')
    op.execute("INSERT INTO items_short_pg_words SELECT term FROM items_short_pg_terms")
    for statement in SCHEMA_DOWN:
        op.execute(statement)
