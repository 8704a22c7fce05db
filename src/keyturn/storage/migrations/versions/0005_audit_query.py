"""audit_events: indexes for the audit query (GET /api/v2/audit/events, keyturn audit list|export)

Each filter of the query (kind, actor, subject, client) with the time order it pages in: the query
is ``WHERE <column> = ? AND (at, id) > cursor ORDER BY at, id LIMIT n``, which each index below
answers without a sort; a query by time alone uses ``ix_audit_events_at`` (0001).

On PostgreSQL ``CREATE INDEX`` holds off writes to ``audit_events`` (and so every audited
request) while it builds. On a large table, build them first with ``CREATE INDEX CONCURRENTLY``
and the same names (docs/audit.md): ``IF NOT EXISTS`` here then leaves them as they are.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-03 05:30:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_audit_events_event_at', ['event', 'at', 'id']),
    ('ix_audit_events_actor_at', ['actor', 'at', 'id']),
    ('ix_audit_events_subject_at', ['subject', 'at', 'id']),
    ('ix_audit_events_client_id_at', ['client_id', 'at', 'id']),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, 'audit_events', columns, if_not_exists=True)


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name='audit_events', if_exists=True)
