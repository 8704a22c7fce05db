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


def access_token(header: str, *, prefix_optional: bool) -> tuple[str, str] | None:
    """``(scheme, token)`` of ``Bearer <token>`` or ``DPoP <token>`` (RFC 9449 §7.1), scheme lower-cased
    (``bearer`` for a bare token where ``prefix_optional``); None when malformed."""
    value = header.lstrip()
    if value[:5].lower() == "dpop ":
        token = value[5:].strip()
        return ("dpop", token) if token and " " not in token else None
    found = bearer_token(header, prefix_optional=prefix_optional)
    return None if found is None else ("bearer", found)
