"""The OpenID Connect provider: authorization endpoint, hosted login, consent, userinfo, logout."""

from __future__ import annotations

from fastapi import FastAPI

from keyturn.services.context import Context


def install(app: FastAPI, ctx: Context) -> None:
    """Add the OIDC routes and hooks to the app."""
