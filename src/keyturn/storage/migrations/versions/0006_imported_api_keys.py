"""api_keys.imported: keys brought over from another service in their own format

``keyturn api-keys import`` and ``POST /api/accounts/{accountId}/api-keys/import`` store a key issued
elsewhere (seed 001's test merchant key, a terminal's existing key) as a digest like every key, and mark
it here. Not null, server default false: existing rows, and rows written by a node still running the
previous version during a rolling deploy, are native keys, as before. Both directions alter the table in
place (SQLite 3.35+ drops a column without copying the table).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_keys', sa.Column('imported', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.execute('ALTER TABLE api_keys DROP COLUMN imported')
