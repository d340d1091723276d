"""subscribers: Telegram private chats with their settings and state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:10:00.000000

A new table only: no existing (parent) table is recreated, so SQLite's batch mode and its
foreign-key caveat (see 0002) do not apply.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('subscribers',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('receive', sa.String(length=8), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=True),
    sa.Column('quiet_end', sa.String(length=5), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('subscribed', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("receive IN ('drip', 'digest', 'both')", name=op.f('ck_subscribers_receive')),
    sa.CheckConstraint("state IN ('active', 'inactive', 'blocked')", name=op.f('ck_subscribers_state')),
    sa.PrimaryKeyConstraint('chat_id', name=op.f('pk_subscribers'))
    )
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index('ix_subscribers_state_receive', ['state', 'receive'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_state_receive')
    op.drop_table('subscribers')
