"""action links: single-use records of one-click links; inbound messages matched to users

Revision ID: 0014_action_links
Revises: 0013_task_runs
Create Date: 2026-12-03 14:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0014_action_links'
down_revision = '0013_task_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'action_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_action_links_subject'), 'action_links', ['subject'], unique=False)
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_inbound_messages_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key('fk_inbound_messages_user_id_users', 'users', ['user_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_inbound_messages_user_id_users', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inbound_messages_user_id'))
        batch_op.drop_column('user_id')
    op.drop_index(op.f('ix_action_links_subject'), table_name='action_links')
    op.drop_table('action_links')
