"""audit log of maintainer changes (issue 8) -- owned by the maintainer-services helper

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:05:00.000000

PLACEHOLDER: filled in by its owner this session (an empty revision changes nothing).
"""
from collections.abc import Sequence

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
