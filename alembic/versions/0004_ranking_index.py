"""考核排名: a covering index, so the per-team GROUP BY reads the index and not the tasks.

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ['team_id', 'status', 'deadline', 'original_deadline', 'behind_red_on', 'last_update_at',
           'signed_at', 'assigned_at', 'urge_count']


def upgrade() -> None:
    op.create_index('ix_tasks_ranking', 'tasks', COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index('ix_tasks_ranking', table_name='tasks')
