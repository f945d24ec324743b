"""Chat memory for the understanding layer: last list, last topic, last buttons.

Revision ID: 0003_nlu
Revises: 0002
Create Date: 2026-11-30 02:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa

from alembic import op

revision: str = '0003_nlu'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('chat_memory',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=128), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_chat_memory_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_memory')),
    sa.UniqueConstraint('channel', 'chat_id', 'person_id', name=op.f('uq_chat_memory_channel'))
    )


def downgrade() -> None:
    op.drop_table('chat_memory')
