"""run problems: a run whose workflow cannot make progress

Revision ID: 0008_run_problems
Revises: 0009_internal_recipients (merged after it)
Create Date: 2026-12-03 10:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_run_problems'
down_revision = '0009_internal_recipients'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('problem_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('problem_message', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('problem_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_problem_code'), ['problem_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_problem_code'))
        batch_op.drop_column('problem_since')
        batch_op.drop_column('problem_message')
        batch_op.drop_column('problem_code')
