"""督办驾驶舱: login links, sessions and 大屏 screen tokens (web_access); an index for the
未签收交办 list.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa

from alembic import op

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('web_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_web_access_created_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['link_id'], ['web_access.id'], name=op.f('fk_web_access_link_id_web_access'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_web_access_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_access')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_access_token_hash'))
    )
    with op.batch_alter_table('web_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_access_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_unsigned', ['signed_at', 'assigned_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_unsigned')
    with op.batch_alter_table('web_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_access_person_id'))
    op.drop_table('web_access')
