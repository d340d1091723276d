"""search ranking over the whole archive (issue 7) -- owned by the search-ranking helper

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 04:05:00.000000

PLACEHOLDER: filled in by its owner this session (an empty revision changes nothing).
"""
from collections.abc import Sequence

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
