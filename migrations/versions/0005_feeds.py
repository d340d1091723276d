"""feeds the worker polls (issue 9) -- owned by the feeds helper

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:05:00.000000

PLACEHOLDER: filled in by its owner this session (an empty revision changes nothing).
"""
from collections.abc import Sequence

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
