"""Scope strings (RFC 6749 §3.3): space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E."""

from __future__ import annotations

from keyturn.core.errors import InvalidScope

_ALLOWED = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}
MAX_SCOPE_LEN = 2048


def is_scope_token(token: str) -> bool:
    return bool(token) and all(c in _ALLOWED for c in token)


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Split a scope parameter into ordered unique tokens; raise InvalidScope on bad grammar."""
    if raw is None:
        return ()
    if len(raw) > MAX_SCOPE_LEN:
        raise InvalidScope("scope is too long")
    tokens = raw.split(" ")
    out: list[str] = []
    for tok in tokens:
        if tok == "":
            continue
        if not is_scope_token(tok):
            raise InvalidScope("scope contains characters outside the scope-token grammar")
        if tok not in out:
            out.append(tok)
    return tuple(out)


def format_scope(tokens: tuple[str, ...] | list[str]) -> str:
    return " ".join(tokens)


def narrow(requested: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """RFC 6749 §3.3: the requested scope must be a subset of the allowed one; none means all."""
    if not requested:
        return allowed
    missing = [s for s in requested if s not in allowed]
    if missing:
        raise InvalidScope("requested scope exceeds what this client may have")
    return requested
