"""DPoP (RFC 9449): clients.dpop_bound_access_tokens, grants.dpop_jkt, authorization_codes.dpop_jkt

``clients.dpop_bound_access_tokens``: the client's token requests must carry a DPoP proof (false for every
existing row and for rows written by a node still on the previous version). ``grants.dpop_jkt``: the JWK
thumbprint a public client's refresh tokens are bound to. ``authorization_codes.dpop_jkt``: the authorization
request's ``dpop_jkt`` (RFC 9449 §10). Both nullable: no binding, as before. Both directions alter the tables
in place (SQLite 3.35+ drops a column without copying the table).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03 08:10:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('clients', sa.Column('dpop_bound_access_tokens', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.add_column('grants', sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    op.add_column('authorization_codes', sa.Column('dpop_jkt', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place, also on SQLite (3.35+): a batch "move and copy" would drop the
    # clients table, and with foreign keys on that cascades to every code, grant and token of every client.
    op.execute('ALTER TABLE authorization_codes DROP COLUMN dpop_jkt')
    op.execute('ALTER TABLE grants DROP COLUMN dpop_jkt')
    op.execute('ALTER TABLE clients DROP COLUMN dpop_bound_access_tokens')
