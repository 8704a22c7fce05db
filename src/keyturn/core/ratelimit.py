"""A request quota as written in the management API and the CLI: ``N/S``, at most N requests in any S seconds
(a sliding window), e.g. ``100/60``; ``none`` (or an empty string) removes it."""

from __future__ import annotations

import re

from keyturn.core.errors import ApiError

_QUOTA = re.compile(r"([1-9][0-9]{0,6})/([1-9][0-9]{0,5})")
MAX_REQUESTS = 1_000_000
MAX_SECONDS = 86_400


def parse_rate_limit(raw: object, field: str = "rateLimit") -> str | None:
    """The quota in its normal form (``"100/60"``), None for ``none``/``""``; else 400 naming the field."""
    if not isinstance(raw, str):
        raise ApiError(400, "INVALID_REQUEST", f"{field} must be a string N/S (requests per seconds) or none")
    text = raw.strip().replace(" ", "")
    if text.lower() in ("", "none"):
        return None
    match = _QUOTA.fullmatch(text)
    if match is None or int(match[1]) > MAX_REQUESTS or int(match[2]) > MAX_SECONDS:
        raise ApiError(400, "INVALID_REQUEST", f"{field} must be N/S: 1 to {MAX_REQUESTS} requests per 1 to "
                       f"{MAX_SECONDS} seconds (e.g. 100/60), or none")
    return f"{int(match[1])}/{int(match[2])}"


def quota(value: str | None) -> tuple[int, float] | None:
    """A stored quota as (requests, seconds); None when there is none."""
    if not value:
        return None
    requests, _, seconds = value.partition("/")
    return int(requests), float(seconds)
