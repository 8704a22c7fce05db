"""PKCE (RFC 7636): challenge and verifier grammar, and the S256 check. Pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 7636 §4.1: code-verifier = 43*128unreserved; unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# §4.2: an S256 challenge is BASE64URL(SHA256(verifier)) without padding: exactly 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
METHODS = ("S256", "plain")


def valid_verifier(verifier: str) -> bool:
    return bool(_VERIFIER.fullmatch(verifier))


def challenge_problem(challenge: str | None, method: str | None, allow_plain: bool) -> str | None:
    """Why an authorization request's PKCE parameters are refused, or None when they are acceptable."""
    if not challenge:
        return "code_challenge is required (PKCE, RFC 7636)"
    # §4.3: the method defaults to "plain" when omitted.
    method = method or "plain"
    if method not in METHODS:
        return "code_challenge_method must be S256"
    if method == "plain":
        if not allow_plain:
            return "code_challenge_method must be S256; plain is not allowed"
        return None if valid_verifier(challenge) else "code_challenge is malformed"
    return None if _S256_CHALLENGE.fullmatch(challenge) else "code_challenge is malformed"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    computed = s256(verifier) if method == "S256" else verifier
    return hmac.compare_digest(computed.encode(), challenge.encode())
