from __future__ import annotations

from alembic import context

from keyturn.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through keyturn.storage.db
    raise RuntimeError("run migrations through `keyturn migrate`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
