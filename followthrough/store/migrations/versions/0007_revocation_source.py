"""consent revocation source

Revision ID: 0007_revocation_source
Revises: 0006
Create Date: 2026-12-03 10:20:00.000000
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007_revocation_source'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revocation_source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    # A row withdrawn today was withdrawn by whoever wrote it last.
    op.execute("UPDATE consents SET revocation_source = source WHERE granted = false")


def downgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('revocation_source')
