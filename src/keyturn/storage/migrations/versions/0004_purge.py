"""Indexes the purge needs (services/purge.py)

Every condition the purge deletes by is on an indexed column, so a batch finds its rows without
scanning the table: expiry of codes, interactions, sessions (and their idle and end times), revoked
tokens and grants, a grant's revocation time, a throttle's window start. Adding indexes changes no
row, so a node still running the previous version during a rolling deploy is unaffected.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 05:30:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_authorization_codes_expires_at', 'authorization_codes', 'expires_at'),
    ('ix_interactions_expires_at', 'interactions', 'expires_at'),
    ('ix_sessions_expires_at', 'sessions', 'expires_at'),
    ('ix_sessions_last_seen_at', 'sessions', 'last_seen_at'),
    ('ix_sessions_ended_at', 'sessions', 'ended_at'),
    ('ix_revoked_tokens_expires_at', 'revoked_tokens', 'expires_at'),
    ('ix_throttles_window_start', 'throttles', 'window_start'),
    ('ix_grants_expires_at', 'grants', 'expires_at'),
    ('ix_grants_revoked_at', 'grants', 'revoked_at'),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
