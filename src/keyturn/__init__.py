"""Keyturn: a self-hosted OAuth 2.0 / OpenID Connect server for payment platforms."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
