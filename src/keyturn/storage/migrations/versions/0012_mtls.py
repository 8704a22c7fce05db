"""mTLS (RFC 8705 §4): grants.mtls_x5t

The ``x5t#S256`` of the client certificate a public client's refresh tokens are bound to. Nullable: existing
rows, and rows written by a node still on the previous version during a rolling deploy, are not bound, as
before. Both directions alter the table in place (SQLite 3.35+ drops a column without copying the table).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('grants', sa.Column('mtls_x5t', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # in place, also on SQLite: a batch "move and copy" of grants would cascade to its refresh tokens
    op.execute('ALTER TABLE grants DROP COLUMN mtls_x5t')
