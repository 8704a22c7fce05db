"""Use cases: the operations the HTTP API and the CLI share. They own transactions."""
