"""FAPI 2.0 profile switch: clients.fapi2

A client registered with ``fapi2`` is held to the FAPI 2.0 Security Profile (keyturn.services.fapi). Not null,
server default false: existing clients, and rows written by a node still on the previous version during a
rolling deploy, are not held to it (``KEYTURN_FAPI2`` holds every OIDC client to it whatever the column says).
Both directions alter the table in place (SQLite 3.35+ drops a column without copying the table).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('clients', sa.Column('fapi2', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute('ALTER TABLE clients DROP COLUMN fapi2')
