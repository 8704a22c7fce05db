"""Pushed authorization requests (RFC 9126): the pushed_requests table and clients.require_pushed_authorization_requests

``POST /par`` stores each pushed request by the SHA-256 digest of its ``request_uri`` (never the value), with
its client, parameters, expiry (at most 60 s) and single-use mark; ``/authorize`` consumes it with one
conditional UPDATE, the purge deletes it once expired (index on ``expires_at``). The new client column is not
null, server default false: existing clients, and rows written by a node still running the previous version
during a rolling deploy, do not require PAR, as before. Both directions alter tables in place (SQLite 3.35+
drops a column without copying the table).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('clients', sa.Column('require_pushed_authorization_requests', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.create_table(
        'pushed_requests',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('used_at', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], ondelete='CASCADE',
                                name=op.f('fk_pushed_requests_client_id_clients')),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_pushed_requests')),
    )
    op.create_index('ix_pushed_requests_expires_at', 'pushed_requests', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pushed_requests_expires_at', table_name='pushed_requests')
    op.drop_table('pushed_requests')
    op.execute('ALTER TABLE clients DROP COLUMN require_pushed_authorization_requests')
