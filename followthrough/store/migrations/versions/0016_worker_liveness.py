"""worker liveness: worker_processes, and the process and task token of a pending attempt

Revision ID: 0016_worker_liveness
Revises: 0015_leads_tickets
Create Date: 2026-12-03 17:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0016_worker_liveness'
down_revision = '0015_leads_tickets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker_processes',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('machine', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('proc_start', sa.BigInteger(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_owner', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('attempt_token', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('attempt_token')
        batch_op.drop_column('attempt_owner')
    op.drop_table('worker_processes')
