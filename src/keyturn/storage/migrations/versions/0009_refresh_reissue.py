"""refresh_tokens.reissue: the sealed answer of a rotation, for the refresh-reuse grace window

With ``KEYTURN_REFRESH_REUSE_GRACE`` on, a repeat of a just-rotated refresh token by its client gets the
identical answer again (core/reissue.py seals it with the presented token). Nullable, no default: existing
rows, and rows written by a node still running the previous version during a rolling deploy, have none
(a repeat of those is a replay, as before). Both directions alter the table in place (SQLite 3.35+ drops a
column without copying the table).

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-03 08:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('refresh_tokens', sa.Column('reissue', sa.LargeBinary(), nullable=True))
    # the purge erases boxes past their window (storage/purge.py stale_reissues): only rows that keep one
    op.create_index('ix_refresh_tokens_reissue', 'refresh_tokens', ['used_at'],
                    sqlite_where=sa.text('reissue IS NOT NULL'), postgresql_where=sa.text('reissue IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_refresh_tokens_reissue', table_name='refresh_tokens')
    op.execute('ALTER TABLE refresh_tokens DROP COLUMN reissue')
