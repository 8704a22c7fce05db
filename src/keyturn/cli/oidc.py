"""CLI: OIDC relying parties (clients)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the OIDC command groups."""
