"""Registered redirect URIs (OAuth 2.1 §2.3.1, RFC 8252, RFC 9700 §2.1) and exact matching."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from keyturn.core.errors import ApiError

_BAD_SCHEMES = {"javascript", "data", "vbscript", "file"}
LOOPBACK_HOSTS = {"127.0.0.1", "[::1]", "localhost"}


def validate_redirect_uri(uri: str) -> str:
    """Absolute, no fragment, no wildcard; https, loopback http, or a private-use scheme."""
    def bad(why: str) -> ApiError:
        return ApiError(400, "INVALID_REDIRECT_URI", f"redirect URI {why}")
    if not isinstance(uri, str) or not uri or len(uri) > 2000 or uri != uri.strip():
        raise bad("must be a non-empty string")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri) or "*" in uri or "\\" in uri:
        raise bad("must not contain spaces, control characters, wildcards or backslashes")
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError:
        raise bad("is malformed") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise bad("must be absolute")
    if "#" in uri:
        raise bad("must not contain a fragment")
    if scheme in _BAD_SCHEMES:
        raise bad("uses a forbidden scheme")
    if scheme == "https":
        if not parts.hostname:
            raise bad("needs a host")
    elif scheme == "http":
        host = (parts.hostname or "").lower()
        if f"[{host}]" not in LOOPBACK_HOSTS and host not in LOOPBACK_HOSTS:
            raise bad("may use http only for localhost/127.0.0.1/[::1]")
    elif "." not in scheme:
        raise bad("with a custom scheme must use a reverse-domain name (RFC 8252 §7.1)")
    if parts.username or parts.password:
        raise bad("must not contain user information")
    return uri


def validate_redirect_uris(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise ApiError(400, "INVALID_REDIRECT_URI", "redirect URIs must be a list of strings")
    out: list[str] = []
    for uri in value:
        validate_redirect_uri(uri)
        if uri not in out:
            out.append(uri)
    return out


def redirect_uri_matches(requested: str, registered: tuple[str, ...]) -> bool:
    """Exact string match; for loopback IP literals any port (RFC 8252 §7.3), path and query exact."""
    if requested in registered:
        return True
    try:
        req = urlsplit(requested)
        req_port = req.port
    except ValueError:
        return False
    if req.scheme != "http" or req.hostname not in ("127.0.0.1", "::1") or req_port is None:
        return False
    netloc_host = "[::1]" if req.hostname == "::1" else "127.0.0.1"
    if req.netloc != f"{netloc_host}:{req_port}":
        return False
    without_port = f"http://{netloc_host}{requested[len('http://' + req.netloc):]}"
    return without_port in registered or any(
        _same_loopback_except_port(requested, r) for r in registered)


def _same_loopback_except_port(requested: str, registered: str) -> bool:
    try:
        a, b = urlsplit(requested), urlsplit(registered)
    except ValueError:
        return False
    return (b.scheme == "http" and b.hostname == a.hostname and b.hostname in ("127.0.0.1", "::1")
            and a.path == b.path and a.query == b.query and not b.username and not a.username)
