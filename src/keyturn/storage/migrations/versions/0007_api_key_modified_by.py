"""api_keys.updated_by: who last changed a key (the wire's modifiedBy), beside created_by and updated_at

Centrapay's API-key entries carry createdBy/modifiedAt/modifiedBy; Keyturn's had created_by and updated_at.
Existing rows: a key never changed since its creation (updated_at = created_at) was last modified by its
creator, so it takes created_by; for a key changed since, who changed it was never recorded, and it stays
null (unknown) rather than a guess. Nullable, no server default: a node still running the previous version
during a rolling deploy writes null, as for an unknown modifier. Both directions alter the table in place.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('api_keys', sa.Column('updated_by', sa.String(200), nullable=True))
    op.execute('UPDATE api_keys SET updated_by = created_by WHERE updated_at = created_at')


def downgrade() -> None:
    op.execute('ALTER TABLE api_keys DROP COLUMN updated_by')
