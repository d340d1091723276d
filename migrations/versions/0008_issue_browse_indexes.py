"""issues (kind, start_date) and (kind, end_date) indexes: /week, /issue, /latest, /picks

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 04:16:00.000000

Finding an issue's neighbours and the newest issue scanned the whole issues table three
times per command; with these, each is an index seek.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_issues_kind_start_date', 'issues', ['kind', 'start_date'], unique=False)
    op.create_index('ix_issues_kind_end_date', 'issues', ['kind', 'end_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_issues_kind_end_date', table_name='issues')
    op.drop_index('ix_issues_kind_start_date', table_name='issues')
