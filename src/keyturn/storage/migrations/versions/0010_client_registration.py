"""RFC 7591/7592 dynamic client registration: initial access tokens, and two columns on clients

``initial_access_tokens`` holds the operator's initial access tokens (``keyturn registration initial-token
issue``) as digests, with an optional expiry and number of uses. ``clients.registered_metadata`` keeps the
RFC 7591 metadata a client was registered with that has no column of its own (``token_endpoint_auth_method``,
``client_uri``, ``contacts``…); ``clients.registration_digest`` the digest of a dynamically registered client's
RFC 7592 registration access token. Both nullable: existing rows, and rows a node of the previous version
writes during a rolling deploy, are clients registered as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'initial_access_tokens',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('digest', sa.String(64), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('created_by', sa.String(200), nullable=True),
        sa.Column('expires_at', sa.Float(), nullable=True),
        sa.Column('uses_left', sa.Integer(), nullable=True),
        sa.Column('revoked_at', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_initial_access_tokens'),
        sa.UniqueConstraint('digest', name='uq_initial_access_tokens_digest'),
    )
    op.add_column('clients', sa.Column('registered_metadata', sa.JSON(), nullable=True))
    op.add_column('clients', sa.Column('registration_digest', sa.String(64), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE clients DROP COLUMN registration_digest')
    op.execute('ALTER TABLE clients DROP COLUMN registered_metadata')
    op.drop_table('initial_access_tokens')
