"""Send buckets: rate limits shared by every instance on one PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa

from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('send_buckets',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_send_buckets'))
    )


def downgrade() -> None:
    op.drop_table('send_buckets')
