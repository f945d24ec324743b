"""The 督办 cycle: 交办, 签收, 批示, 催办, 审核, 延期 up the chain, the timeline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 02:23:52.701435
"""
from typing import Sequence, Union

import sqlalchemy as sa

from alembic import op

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('instructions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by_id'], ['people.id'], name=op.f('fk_instructions_answered_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['leader_id'], ['people.id'], name=op.f('fk_instructions_leader_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_instructions_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instructions'))
    )
    with op.batch_alter_table('instructions', schema=None) as batch_op:
        batch_op.create_index('ix_instructions_open', ['answered_at', 'task_id'], unique=False)

    op.create_table('task_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_task_events_actor_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_events_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_events'))
    )
    with op.batch_alter_table('task_events', schema=None) as batch_op:
        batch_op.create_index('ix_task_events_task_created', ['task_id', 'created_at'], unique=False)

    with op.batch_alter_table('extension_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.String(length=16), nullable=False, server_default='lead'))
        batch_op.add_column(sa.Column('lead_decided_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lead_decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_extension_requests_lead_decided_by_id_people'), 'people', ['lead_decided_by_id'], ['id'])

    with op.batch_alter_table('task_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('problems', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('next_steps', sa.Text(), nullable=True))

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('leader_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('original_deadline', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('extension_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('review_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('return_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('problems', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('next_steps', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('urge_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_urged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_tasks_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_review_status'), ['review_status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tasks_leader_id_people'), 'people', ['leader_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_tasks_assigned_by_id_people'), 'people', ['assigned_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_tasks_signed_by_id_people'), 'people', ['signed_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_tasks_parent_id_tasks'), 'tasks', ['parent_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tasks_parent_id_tasks'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tasks_signed_by_id_people'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tasks_assigned_by_id_people'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tasks_leader_id_people'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tasks_review_status'))
        batch_op.drop_index(batch_op.f('ix_tasks_parent_id'))
        batch_op.drop_column('last_urged_at')
        batch_op.drop_column('urge_count')
        batch_op.drop_column('next_steps')
        batch_op.drop_column('problems')
        batch_op.drop_column('return_reason')
        batch_op.drop_column('review_status')
        batch_op.drop_column('extension_count')
        batch_op.drop_column('original_deadline')
        batch_op.drop_column('signed_at')
        batch_op.drop_column('signed_by_id')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('assigned_by_id')
        batch_op.drop_column('leader_id')
        batch_op.drop_column('parent_id')
        batch_op.drop_column('origin')

    with op.batch_alter_table('task_updates', schema=None) as batch_op:
        batch_op.drop_column('next_steps')
        batch_op.drop_column('problems')

    with op.batch_alter_table('extension_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_extension_requests_lead_decided_by_id_people'), type_='foreignkey')
        batch_op.drop_column('decision_note')
        batch_op.drop_column('lead_decided_at')
        batch_op.drop_column('lead_decided_by_id')
        batch_op.drop_column('stage')

    with op.batch_alter_table('task_events', schema=None) as batch_op:
        batch_op.drop_index('ix_task_events_task_created')

    op.drop_table('task_events')
    with op.batch_alter_table('instructions', schema=None) as batch_op:
        batch_op.drop_index('ix_instructions_open')

    op.drop_table('instructions')
