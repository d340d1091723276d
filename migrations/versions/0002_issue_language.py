"""issue language: an issue is key + language; cancelled digest posts do not block new ones

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 01:40:00.000000
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIGEST_LIVE = "kind = 'digest' AND state != 'cancelled'"
DIGEST_ANY = "kind = 'digest'"

# frozen copy of bot.domain.digest.detect_language (a migration must not change with the code)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z]")
_URLISH = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)


def _language(texts: list[str]) -> str:
    text = _URLISH.sub(" ", " ".join(texts))
    han, kana = len(_HAN.findall(text)), len(_KANA.findall(text))
    latin, cjk = len(_LATIN.findall(text)), han + kana
    if cjk == 0 or cjk < 0.25 * (cjk + latin):
        return "en"
    return "ja" if kana >= 0.1 * cjk else "zh"


def _fill_languages() -> None:
    bind = op.get_bind()
    texts: dict[int, list[str]] = {}
    for issue_id, title in bind.execute(sa.text("SELECT id, title FROM issues")):
        texts[issue_id] = [title or ""]
    rows = bind.execute(sa.text("SELECT issue_id, headline, title, summary FROM items"))
    for issue_id, headline, title, summary in rows:
        texts.setdefault(issue_id, []).extend([headline or "", title or "", summary or ""])
    for issue_id, parts in texts.items():
        language = _language(parts)
        if language != "en":
            bind.execute(
                sa.text("UPDATE issues SET language = :language WHERE id = :id"),
                {"language": language, "id": issue_id},
            )


def _foreign_keys_off() -> bool:
    """SQLite: recreating ``issues`` (batch mode) drops the old table, and with foreign keys on
    that DROP would cascade to items. Returns True when they were on (to restore them)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        return False
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("cannot switch SQLite foreign keys off inside a transaction")
    return True


def upgrade() -> None:
    restore = _foreign_keys_off()
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=False, server_default='en'))
        batch_op.drop_constraint('uq_issues_key', type_='unique')
        batch_op.create_unique_constraint('uq_issues_key_language', ['key', 'language'])
    _fill_languages()
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.alter_column('language', existing_type=sa.String(length=8), server_default=None)

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('uq_posts_digest_issue', sqlite_where=sa.text(DIGEST_ANY), postgresql_where=sa.text(DIGEST_ANY))
        batch_op.create_index('uq_posts_digest_issue', ['issue_id'], unique=True, sqlite_where=sa.text(DIGEST_LIVE), postgresql_where=sa.text(DIGEST_LIVE))
    if restore:
        op.get_bind().exec_driver_sql("PRAGMA foreign_keys=ON")


def downgrade() -> None:
    bind = op.get_bind()
    twice = bind.execute(
        sa.text("SELECT key FROM issues GROUP BY key HAVING COUNT(*) > 1 ORDER BY key")
    ).scalars().all()
    if twice:
        raise RuntimeError(
            "cannot downgrade: these issues exist in more than one language: "
            + ", ".join(twice) + " (remove one with `digestbot issues rm KEY --lang LANG`)"
        )
    live_twice = bind.execute(
        sa.text(f"SELECT issue_id FROM posts WHERE {DIGEST_ANY} AND issue_id IS NOT NULL "
                "GROUP BY issue_id HAVING COUNT(*) > 1")
    ).scalars().all()
    if live_twice:
        raise RuntimeError("cannot downgrade: some issues have more than one digest post")
    restore = _foreign_keys_off()
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index('uq_posts_digest_issue', sqlite_where=sa.text(DIGEST_LIVE), postgresql_where=sa.text(DIGEST_LIVE))
        batch_op.create_index('uq_posts_digest_issue', ['issue_id'], unique=True, sqlite_where=sa.text(DIGEST_ANY), postgresql_where=sa.text(DIGEST_ANY))

    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_constraint('uq_issues_key_language', type_='unique')
        batch_op.create_unique_constraint('uq_issues_key', ['key'])
        batch_op.drop_column('language')
    if restore:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
