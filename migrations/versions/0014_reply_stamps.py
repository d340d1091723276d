"""Reply stamps: every message the bot sends counts in one budget (issue 11) -- owned by the
shared-pace helper

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-30 10:45:00.000000

A new table only, both stores: the moments at which replies (answers to commands, edits,
alerts) were let go, read by the ledger's pace beside ``deliveries.sent_at``
(``bot.store.stamps``). No primary key: rows are read and deleted by time only.

(Chained after 0015, the migration present when this one was written, so that there is one
head; 0012 and 0013 belong to other helpers and may re-chain it.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_stamps",
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("reply_stamps", schema=None) as batch_op:
        batch_op.create_index("ix_reply_stamps_at", ["at"], unique=False)
        batch_op.create_index("ix_reply_stamps_chat_at", ["chat_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reply_stamps", schema=None) as batch_op:
        batch_op.drop_index("ix_reply_stamps_chat_at")
        batch_op.drop_index("ix_reply_stamps_at")
    op.drop_table("reply_stamps")
