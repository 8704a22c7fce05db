"""authorization_codes.redirect_uri_sent

Whether the authorization request carried ``redirect_uri`` (RFC 6749 §4.1.3: then the token
request must carry the identical value). Nullable, with no default: rows written before this
revision, or by a node still running the previous version during a rolling deploy, read as
NULL and are redeemed under the previous rule (redirect_uri may be omitted only when the
client has exactly one registered), so no code in flight changes meaning.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redirect_uri_sent', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('redirect_uri_sent')
