"""clients.rate_limit and api_keys.rate_limit

A request quota per credential (at the token endpoint) and per API key (at the management API), written
``N/S`` (at most N requests in any S seconds). Nullable, no default: existing rows, and rows written by a
node still running the previous version during a rolling deploy, have no quota, as before. Both directions
alter the tables in place (SQLite 3.35+ drops a column without copying the table).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 05:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('clients', sa.Column('rate_limit', sa.String(length=20), nullable=True))
    op.add_column('api_keys', sa.Column('rate_limit', sa.String(length=20), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place, also on SQLite (3.35+): a batch "move and copy" would drop the
    # clients table, and with foreign keys on that cascades to every code, grant and token of every client.
    for table in ('api_keys', 'clients'):
        op.execute(f'ALTER TABLE {table} DROP COLUMN rate_limit')
