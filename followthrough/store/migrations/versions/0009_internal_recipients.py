"""internal recipients: a ledger row addressed to a user

Revision ID: 0009_internal_recipients
Revises: 0007_revocation_source
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_internal_recipients'
down_revision = '0007_revocation_source'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows stay NULL (the contact's). Rows written by the old ``to: data.rep_email``
    # notifications cannot be told apart from the contact's own mail and keep counting toward
    # caps until they leave the longest cap window (7 days by default).
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('to_user_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('to_user_id')
