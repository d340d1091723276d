"""deliveries.sent_at index: the X budget and Telegram's pace read recent claims by time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:20:00.000000

Every X and Telegram claim counts the claims of the last second (Telegram) or day and month
(X); without an index that is a scan of the whole ledger, which grows by a row per subscriber
per post. Creating an index does not recreate the table (no batch-mode rebuild on SQLite).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_deliveries_sent_at', 'deliveries', ['sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deliveries_sent_at', table_name='deliveries')
