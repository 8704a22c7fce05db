"""The ``keyturn`` command (Typer). Every command uses the same use cases as the HTTP API."""

from __future__ import annotations

from keyturn.cli.main import app, main

__all__ = ["app", "main"]
