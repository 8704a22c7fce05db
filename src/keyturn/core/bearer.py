"""The one reading of an ``Authorization`` header that carries an access token (RFC 6750 §2.1)."""

from __future__ import annotations


def bearer_token(header: str, *, prefix_optional: bool) -> str | None:
    """The token of ``Bearer <token>``, or None when the header is malformed (no token, white space inside,
    or no ``Bearer`` prefix where one is required). ``prefix_optional``: seed 001's curl sends the token
    alone (``Authorization: <token>``), which Keyturn's API and ``keyturn.rs`` accept."""
    value = header.lstrip()
    if value[:7].lower() == "bearer ":
        value = value[7:]
    elif not prefix_optional:
        return None
    value = value.strip()
    return value if value and " " not in value else None
