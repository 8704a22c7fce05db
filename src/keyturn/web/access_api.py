"""Accounts, memberships, API keys, the decision endpoint and forward-auth (seed 001)."""

from __future__ import annotations

from fastapi import FastAPI

from keyturn.services.context import Context


def install(app: FastAPI, ctx: Context) -> None:
    """Add the access-model routes and hooks to the app."""
