"""Duration strings like seed 000's ``refresh: "1d"``: ``<n><unit>`` with s, m, h, d, w."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RE = re.compile(r"([1-9][0-9]{0,5})([smhdw])")
NONE_WORDS = {"none", "null", "off", "0"}


def parse_duration(text: str | None) -> int | None:
    """Seconds for ``"1d"``; ``None`` for none/null (no refresh tokens, RFC 6749 §4.4.3)."""
    if text is None:
        return None
    text = text.strip().lower()
    if text in NONE_WORDS:
        return None
    m = _RE.fullmatch(text)
    if not m:
        raise ValueError("duration must look like 30m, 12h, 1d or 2w, or be none")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds > 366 * 86400:
        raise ValueError("duration must be at most one year")
    return seconds


def normalise_duration(text: str | None) -> str | None:
    """Validate and return the canonical string form (``None`` for no refresh)."""
    if text is None or parse_duration(text) is None:
        return None
    return text.strip().lower()
