"""attempt deadline: until when a ``pending`` ledger row's attempt may still be running

Revision ID: 0010_attempt_deadline
Revises: 0008_run_problems
Create Date: 2026-12-03 11:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_attempt_deadline'
down_revision = '0008_run_problems'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows claimed before this revision stay NULL: the door then counts from updated_at.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_deadline', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('attempt_deadline')
