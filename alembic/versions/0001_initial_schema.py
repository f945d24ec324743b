"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 21:23:54.227759
"""
from typing import Sequence, Union

import sqlalchemy as sa

from alembic import op

revision: str = '0001'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('inbound_seen',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'external_id', name=op.f('pk_inbound_seen'))
    )
    with op.batch_alter_table('inbound_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_seen_seen_at'), ['seen_at'], unique=False)

    op.create_table('indicators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('search_keys', sa.JSON(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Float(), nullable=True),
    sa.Column('target_text', sa.Text(), nullable=True),
    sa.Column('target_source', sa.Text(), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicators')),
    sa.UniqueConstraint('key', name=op.f('uq_indicators_key'))
    )
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicators_category'), ['category'], unique=False)

    op.create_table('meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meta'))
    )
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('robot_key', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('code', name=op.f('uq_teams_code')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    op.create_table('indicator_values',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.Integer(), nullable=False),
    sa.Column('period_label', sa.String(length=32), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('qualifier', sa.String(length=8), nullable=True),
    sa.Column('yoy_pct', sa.Float(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_indicator_values_indicator_id_indicators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_values')),
    sa.UniqueConstraint('indicator_id', 'period_end', name=op.f('uq_indicator_values_indicator_id'))
    )
    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remind_time', sa.Time(), nullable=True),
    sa.Column('quiet_start', sa.Time(), nullable=True),
    sa.Column('quiet_end', sa.Time(), nullable=True),
    sa.Column('muted_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_people_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
    sa.UniqueConstraint('name', name=op.f('uq_people_name'))
    )
    # teams.leader_id and people.team_id refer to each other: add this key once both exist.
    with op.batch_alter_table('teams') as batch_op:
        batch_op.create_foreign_key(op.f('fk_teams_leader_id_people'), 'people', ['leader_id'], ['id'], ondelete='SET NULL')
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_key', sa.String(length=128), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_audit_log_actor_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('chat_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_user_id', sa.String(length=128), nullable=False),
    sa.Column('chat_id', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=True),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_chat_identities_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_identities')),
    sa.UniqueConstraint('channel', 'external_user_id', name=op.f('uq_chat_identities_channel'))
    )
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_identities_person_id'), ['person_id'], unique=False)

    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=128), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('flow', sa.String(length=32), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_conversations_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('channel', 'chat_id', 'person_id', name=op.f('uq_conversations_channel'))
    )
    op.create_table('group_bindings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('chat_id', sa.String(length=128), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('bound_by_id', sa.Integer(), nullable=True),
    sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bound_by_id'], ['people.id'], name=op.f('fk_group_bindings_bound_by_id_people')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_group_bindings_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_bindings')),
    sa.UniqueConstraint('channel', 'chat_id', name=op.f('uq_group_bindings_channel'))
    )
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('search_keys', sa.JSON(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('subcategory', sa.String(length=64), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('lead_unit', sa.String(length=128), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('target_text', sa.Text(), nullable=True),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('target_unit', sa.String(length=16), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('last_update_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('behind_yellow_on', sa.Date(), nullable=True),
    sa.Column('behind_red_on', sa.Date(), nullable=True),
    sa.Column('due_soon_on', sa.Date(), nullable=True),
    sa.Column('stale_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['people.id'], name=op.f('fk_tasks_owner_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_tasks_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    sa.UniqueConstraint('key', name=op.f('uq_tasks_key'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tasks_behind_red_on'), ['behind_red_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_behind_yellow_on'), ['behind_yellow_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_due_soon_on'), ['due_soon_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tasks_stale_on'), ['stale_on'], unique=False)
        batch_op.create_index('ix_tasks_status_deadline', ['status', 'deadline'], unique=False)
        batch_op.create_index('ix_tasks_lights', ['status', 'deadline', 'behind_red_on', 'behind_yellow_on', 'due_soon_on', 'stale_on', 'progress', 'team_id', 'owner_id', 'category'], unique=False)
        batch_op.create_index('ix_tasks_team_status', ['team_id', 'status'], unique=False)

    op.create_table('invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by_identity_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_invites_created_by_id_people')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_invites_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['used_by_identity_id'], ['chat_identities.id'], name=op.f('fk_invites_used_by_identity_id_chat_identities'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invites')),
    sa.UniqueConstraint('code', name=op.f('uq_invites_code'))
    )
    op.create_table('milestones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['done_by_id'], ['people.id'], name=op.f('fk_milestones_done_by_id_people')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_milestones_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestones'))
    )
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestones_task_id'), ['task_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('chat_id', sa.String(length=128), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_outbox_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_outbox_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('extension_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=True),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('old_deadline', sa.Date(), nullable=True),
    sa.Column('new_deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['people.id'], name=op.f('fk_extension_requests_decided_by_id_people')),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestones.id'], name=op.f('fk_extension_requests_milestone_id_milestones')),
    sa.ForeignKeyConstraint(['requester_id'], ['people.id'], name=op.f('fk_extension_requests_requester_id_people')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_extension_requests_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extension_requests'))
    )
    with op.batch_alter_table('extension_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extension_requests_task_id'), ['task_id'], unique=False)

    op.create_table('task_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('previous_progress', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('milestone_id', sa.Integer(), nullable=True),
    sa.Column('photo_file_id', sa.String(length=256), nullable=True),
    sa.Column('photo_path', sa.String(length=512), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('source_ref', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['people.id'], name=op.f('fk_task_updates_author_id_people')),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestones.id'], name=op.f('fk_task_updates_milestone_id_milestones')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_updates_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_updates')),
    sa.UniqueConstraint('source_ref', name=op.f('uq_task_updates_source_ref'))
    )
    with op.batch_alter_table('task_updates', schema=None) as batch_op:
        batch_op.create_index('ix_task_updates_task_created', ['task_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_task_updates_task_created')

    op.drop_table('task_updates')
    with op.batch_alter_table('extension_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_extension_requests_task_id'))

    op.drop_table('extension_requests')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next')

    op.drop_table('outbox')
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_milestones_task_id'))

    op.drop_table('milestones')
    op.drop_table('invites')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_team_status')
        batch_op.drop_index('ix_tasks_lights')
        batch_op.drop_index('ix_tasks_status_deadline')
        batch_op.drop_index(batch_op.f('ix_tasks_stale_on'))
        batch_op.drop_index(batch_op.f('ix_tasks_owner_id'))
        batch_op.drop_index(batch_op.f('ix_tasks_due_soon_on'))
        batch_op.drop_index(batch_op.f('ix_tasks_category'))
        batch_op.drop_index(batch_op.f('ix_tasks_behind_yellow_on'))
        batch_op.drop_index(batch_op.f('ix_tasks_behind_red_on'))

    op.drop_table('tasks')
    op.drop_table('group_bindings')
    op.drop_table('conversations')
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_identities_person_id'))

    op.drop_table('chat_identities')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    with op.batch_alter_table('teams') as batch_op:
        batch_op.drop_constraint(op.f('fk_teams_leader_id_people'), type_='foreignkey')
    op.drop_table('people')
    op.drop_table('indicator_values')
    op.drop_table('teams')
    op.drop_table('meta')
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicators_category'))

    op.drop_table('indicators')
    with op.batch_alter_table('inbound_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_seen_seen_at'))

    op.drop_table('inbound_seen')
