"""Storage: one SQL implementation for SQLite and PostgreSQL, named by protocol intent."""
