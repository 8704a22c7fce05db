"""High-entropy secrets that say what they are, and their digests.

Every opaque value carries a prefix naming its kind, so introspection, log
redaction and secret scanners can tell them apart. API keys also carry a
CRC32 checksum so a scanner (or support staff) can tell a real key from
noise without a database call. Only SHA-256 digests are stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import re
import secrets
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PREFIX_CLIENT_SECRET = "ktcs_"
PREFIX_REFRESH = "ktrt_"
PREFIX_CODE = "ktac_"
PREFIX_API_KEY_LIVE = "kt_live_"
PREFIX_API_KEY_TEST = "kt_test_"
PREFIX_INITIAL_ACCESS = "ktia_"  # RFC 7591 §3: an initial access token (the operator's, for registration)
PREFIX_REGISTRATION_ACCESS = "ktra_"  # RFC 7592 §3: a registration access token (one registered client's)
PREFIXES = (PREFIX_API_KEY_LIVE, PREFIX_API_KEY_TEST, PREFIX_CLIENT_SECRET, PREFIX_REFRESH, PREFIX_CODE,
            PREFIX_INITIAL_ACCESS, PREFIX_REGISTRATION_ACCESS)
API_KEY_BODY = 32  # base62 characters ≈ 190 bits
API_KEY_CHECK = 6


class _EntropyPool:
    """``os.urandom`` drawn 4 KiB at a time for token identifiers (``jti``): one system call per
    256 identifiers instead of one each. Identifiers must be unique and unguessable enough not
    to collide, not secret; secrets still come from ``secrets`` directly. A forked child starts
    a fresh pool, so parent and child never hand out the same bytes."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._buf = b""
        self._pos = 0
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._buf, self._pos = b"", 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            self._buf, self._pos = os.urandom(self.size), 0
        out = self._buf[self._pos:self._pos + n]
        self._pos += n
        return out


_POOL = _EntropyPool()


def new_token_id() -> str:
    """A 128-bit random identifier, base64url without padding (22 characters)."""
    return base64.urlsafe_b64encode(_POOL.take(16)).rstrip(b"=").decode("ascii")


def digest(value: str) -> str:
    """SHA-256 hex digest: what we store instead of any server-generated secret."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def same_digest(value: str, stored_digest: str) -> bool:
    """Constant-time check of a presented secret against a stored digest."""
    return hmac.compare_digest(digest(value), stored_digest)


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def random_base62(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_client_id() -> str:
    """32 hex characters (128 bits), the shape of seed 000's `username`."""
    return secrets.token_hex(16)


def new_client_secret() -> str:
    return PREFIX_CLIENT_SECRET + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return PREFIX_REFRESH + secrets.token_urlsafe(32)


def new_code() -> str:
    return PREFIX_CODE + secrets.token_urlsafe(32)


def new_initial_access_token() -> str:
    return PREFIX_INITIAL_ACCESS + secrets.token_urlsafe(32)


def new_registration_access_token() -> str:
    return PREFIX_REGISTRATION_ACCESS + secrets.token_urlsafe(32)
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"  # RFC 9126 §2.2


def new_request_uri() -> str:
    """A pushed authorization request's reference (RFC 9126 §2.2): 256 random bits after the URN prefix."""
    return REQUEST_URI_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_api_key(test: bool = False) -> str:
    body = random_base62(API_KEY_BODY)
    prefix = PREFIX_API_KEY_TEST if test else PREFIX_API_KEY_LIVE
    return prefix + body + _base62(zlib.crc32(body.encode()), API_KEY_CHECK)


def looks_like_api_key(value: str) -> bool:
    """Offline check of an API key's shape and checksum (no database call)."""
    for prefix in (PREFIX_API_KEY_LIVE, PREFIX_API_KEY_TEST):
        if value.startswith(prefix):
            rest = value[len(prefix):]
            if len(rest) != API_KEY_BODY + API_KEY_CHECK or any(c not in ALPHABET for c in rest):
                return False
            body, check = rest[:API_KEY_BODY], rest[API_KEY_BODY:]
            return hmac.compare_digest(_base62(zlib.crc32(body.encode()), API_KEY_CHECK), check)
    return False


# Imported API keys (issued by another service, brought over unchanged; docs/management-api.md): 20-256
# characters of this alphabet, never a Keyturn prefix, and at least 128 bits by the estimate below.
IMPORTED_KEY_MIN, IMPORTED_KEY_MAX = 20, 256
IMPORTED_KEY_BITS = 128
_IMPORTED = re.compile(f"[A-Za-z0-9._~+/=-]{{{IMPORTED_KEY_MIN},{IMPORTED_KEY_MAX}}}")
_CLASSES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "._~+/=-")
_HEX = frozenset("0123456789abcdef")


def looks_like_imported_api_key(value: str) -> bool:
    """Offline check of an imported key's shape: the bounds' length and alphabet, and no Keyturn prefix
    (a value with one is checked as a native key, by its checksum)."""
    return _IMPORTED.fullmatch(value) is not None and not value.startswith(PREFIXES)


def imported_key_problem(value: str) -> str | None:
    """Why ``value`` cannot be imported as an API key, or None. Beyond the shape, a key must carry at
    least 128 bits by a generous estimate (length × log2 of the character classes it uses; hex counts
    16) and at least 8 distinct characters: "aaaa…" or a short digit string is refused."""
    if not looks_like_imported_api_key(value):
        return (f"the key must be {IMPORTED_KEY_MIN}-{IMPORTED_KEY_MAX} characters of A-Z a-z 0-9 . _ ~ + / = - "
                "and must not start with a Keyturn prefix (kt_live_, kt_test_, ktcs_, ktrt_, ktac_, ktia_, ktra_)")
    chars = set(value)
    size = 16 if chars <= _HEX or chars <= set("0123456789ABCDEF") else sum(
        len(c) for c in _CLASSES if chars & set(c))
    if len(chars) < 8 or len(value) * math.log2(size) < IMPORTED_KEY_BITS:
        return "the key is too weak to import (at least 128 bits: e.g. 32 hex or 22 mixed-case letters and digits)"
    return None


def redact(value: str) -> str:
    """What may appear in a log line for a secret: its kind prefix and a short digest."""
    for prefix in PREFIXES:
        if value.startswith(prefix):
            return f"{prefix}…#{digest(value)[:8]}"
    return f"…#{digest(value)[:8]}"

# A secret Keyturn issues (its prefix, then its body), or a JWT (three base64url parts, the first a
# JSON header: ``eyJ``). Linear patterns: no backtracking blow-up on long input.
_SECRET = re.compile("(?:" + "|".join(map(re.escape, PREFIXES)) + r")[A-Za-z0-9_-]+"
                     r"|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def _mask(match: re.Match[str]) -> str:
    value = match.group(0)
    return redact(value) if not value.startswith("eyJ") else f"eyJ…#{digest(value)[:8]}"


def mask_secrets(text: str) -> str:
    """``text`` with every token or secret Keyturn issues (and every JWT) replaced by :func:`redact`'s
    form: the kind prefix and a short digest, enough to tell two apart, never enough to use one."""
    if "kt" not in text and "eyJ" not in text:  # the common case: nothing to mask, no regex run
        return text
    return _SECRET.sub(_mask, text)
