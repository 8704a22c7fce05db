"""CLI: accounts, members, API keys."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the access-model command groups."""
