"""report indexes: leads and tickets by created_at, the cohorts of the lead and SLA reports

Revision ID: 0018_report_indexes
Revises: 0017_lead_flow
Create Date: 2026-12-04 17:50:00.000000
"""

from alembic import op


revision = '0018_report_indexes'
down_revision = '0017_lead_flow'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_leads_created_at', 'leads', ['created_at'], unique=False)
    op.create_index('ix_tickets_created_at', 'tickets', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tickets_created_at', table_name='tickets')
    op.drop_index('ix_leads_created_at', table_name='leads')
