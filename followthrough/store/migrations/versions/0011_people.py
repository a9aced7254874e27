"""people: users with phone, locale, zone, calendar, manager, channels; teams; absences;
contacts with given/family name and an owner

Revision ID: 0011_people
Revises: 0010_attempt_deadline
Create Date: 2026-12-03 13:30:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011_people'
down_revision = '0010_attempt_deadline'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False, server_default='en'))
        batch_op.add_column(sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default='UTC'))
        batch_op.add_column(sa.Column('calendar', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('manager_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('notify_channels', sa.JSON(), nullable=False, server_default='["email"]'))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
        batch_op.create_index(batch_op.f('ix_users_manager_id'), ['manager_id'], unique=False)
        batch_op.create_foreign_key('fk_users_manager_id_users', 'users', ['manager_id'], ['id'])
    # The defaults filled the existing rows; the model supplies them from now on.
    with op.batch_alter_table('users', schema=None) as batch_op:
        for name in ('locale', 'time_zone', 'active', 'notify_channels', 'updated_at'):
            batch_op.alter_column(name, server_default=None)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('given_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('family_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('owner_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_contacts_owner_id'), ['owner_id'], unique=False)
        batch_op.create_foreign_key('fk_contacts_owner_id_users', 'users', ['owner_id'], ['id'])

    op.create_table(
        'teams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('manager_id', sa.Integer(), nullable=True),
        sa.Column('calendar', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['manager_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_index(op.f('ix_teams_manager_id'), 'teams', ['manager_id'], unique=False)
    op.create_table(
        'team_members',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('team_id', 'user_id'),
    )
    op.create_index(op.f('ix_team_members_user_id'), 'team_members', ['user_id'], unique=False)
    op.create_table(
        'user_absences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_user_absences_user_id'), 'user_absences', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_user_absences_user_id'), table_name='user_absences')
    op.drop_table('user_absences')
    op.drop_index(op.f('ix_team_members_user_id'), table_name='team_members')
    op.drop_table('team_members')
    op.drop_index(op.f('ix_teams_manager_id'), table_name='teams')
    op.drop_table('teams')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_contacts_owner_id_users', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contacts_owner_id'))
        batch_op.drop_column('owner_id')
        batch_op.drop_column('family_name')
        batch_op.drop_column('given_name')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('fk_users_manager_id_users', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_manager_id'))
        for name in ('updated_at', 'notify_channels', 'active', 'manager_id', 'calendar',
                     'time_zone', 'locale', 'phone'):
            batch_op.drop_column(name)
