"""tasks.run_id, tasks.run_key: a task created by a sequence's ``task`` step records its run
(which hears when the task ends) and its step's key (a retried creation finds it)

Revision ID: 0013_task_runs
Revises: 0012_tasks
Create Date: 2026-12-03 14:25:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013_task_runs'
down_revision = '0012_tasks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('run_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_tasks_run_id'), ['run_id'], unique=False)
        batch_op.create_unique_constraint('uq_tasks_run_key', ['run_key'])
        batch_op.create_foreign_key('fk_tasks_run_id_runs', 'runs', ['run_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint('fk_tasks_run_id_runs', type_='foreignkey')
        batch_op.drop_constraint('uq_tasks_run_key', type_='unique')
        batch_op.drop_index(batch_op.f('ix_tasks_run_id'))
        batch_op.drop_column('run_key')
        batch_op.drop_column('run_id')
