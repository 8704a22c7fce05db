"""Text at the boundary: what a name, scope, URI or id sent by a client may contain.

No field of the management API needs a control character: C0 (U+0000-U+001F, including NUL, tab and
newlines), DEL and C1 (U+007F-U+009F) are refused, and so are lone surrogates (U+D800-U+DFFF), which
JSON's ``\\uD800`` escape can carry but UTF-8 cannot encode (PostgreSQL refuses NUL and such strings, and
a stored one breaks every later answer that renders it). Pure: the web layer's strict type
(``keyturn.web.management.schemas.Text``) and the use cases (which the CLI calls directly) share this check.
"""

from __future__ import annotations

import re
from typing import Any

from keyturn.core.errors import ApiError

_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """None when ``value`` is acceptable text, else why not (without echoing the value)."""
    m = _FORBIDDEN.search(value)
    if m is None:
        return None
    code = ord(m.group())
    if code == 0:
        return "must not contain NUL"
    if 0xD800 <= code <= 0xDFFF:
        return "must not contain a lone surrogate"
    return f"must not contain control characters (U+{code:04X})"


def is_clean(value: str) -> bool:
    return _FORBIDDEN.search(value) is None


def check_text(field: str, value: str) -> str:
    """Return ``value``, or raise 400 ``INVALID_REQUEST`` naming ``field``."""
    problem = text_problem(value)
    if problem is not None:
        raise ApiError(400, "INVALID_REQUEST", f"{field} {problem}")
    return value


def usable_id(value: str, max_len: int = 64) -> bool:
    """An id or name taken from a path: short, clean text. Anything else is answered 404 without a query."""
    return isinstance(value, str) and 0 < len(value) <= max_len and is_clean(value)


class RepeatedMember(ValueError):
    """A JSON object names a member twice (RFC 8259 §4: names SHOULD be unique): two readers could keep
    different values, so every JSON Keyturn reads (JOSE headers and claims, OAuth and management bodies)
    refuses it instead of keeping the last."""

    def __init__(self, name: str) -> None:
        super().__init__(f"member {name[:40]!r} is repeated")
        self.name = name


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: raise :class:`RepeatedMember` on a repeated name."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise RepeatedMember(name)
        out[name] = value
    return out
