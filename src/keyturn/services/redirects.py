"""Registered redirect URIs (OAuth 2.1 §2.3.1, RFC 8252, RFC 9700 §2.1) and exact matching."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from keyturn.core.errors import ApiError
from keyturn.core.origins import LOOPBACK_IPS, is_loopback_hostname

_BAD_SCHEMES = {"javascript", "data", "vbscript", "file"}
# RFC 8252 §7.3/§8.3: the port may vary only for the loopback IP literals, not for "localhost".
_LOOPBACK_PREFIXES = tuple(f"http://{ip}" for ip in LOOPBACK_IPS)


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
    if parts.port is not None and (parts.port == 0 or parts.netloc.rsplit(":", 1)[1] != str(parts.port)):
        raise bad("must use a port from 1 to 65535, written without leading zeros")
    if scheme in _BAD_SCHEMES:
        raise bad("uses a forbidden scheme")
    if scheme == "https":
        if not parts.hostname:
            raise bad("needs a host")
    elif scheme == "http":
        host = (parts.hostname or "").lower()
        if not is_loopback_hostname(host):
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
    """Exact string match (RFC 9700 §2.1, OAuth 2.1 §4.1.1); never with a fragment (RFC 6749 §3.1.2).

    For the loopback IP literals ``http://127.0.0.1`` and ``http://[::1]`` only the port may differ
    (RFC 8252 §7.3), and only to a real one (1-65535, written without leading zeros); everything
    else, path and query included, must be the identical string.
    """
    # urlsplit drops an empty fragment ("...cb#"), so look at the raw string.
    if "#" in requested:
        return False
    if not requested.startswith(_LOOPBACK_PREFIXES):
        return requested in registered
    portless = _loopback_without_port(requested)
    if portless is None:
        return False  # port 0, 65536, "080", "+80", or not the loopback host at all
    return requested in registered or any(_loopback_without_port(r) == portless for r in registered)


def _loopback_without_port(uri: str) -> str | None:
    """``uri`` with its port removed, if it is a loopback IP literal URI with no or a valid port; else None."""
    prefix = next((p for p in _LOOPBACK_PREFIXES if uri.startswith(p)), None)
    if prefix is None or "#" in uri:
        return None
    rest = uri[len(prefix):]
    if rest.startswith(":"):
        end = next((i for i, c in enumerate(rest) if c in "/?"), len(rest))
        port = rest[1:end]
        if not (port.isascii() and port.isdigit() and len(port) <= 5) or port[0] == "0" or int(port) > 65535:
            return None
        rest = rest[end:]
    if rest and rest[0] not in "/?":
        return None  # "http://127.0.0.1.evil.example/cb", "http://127.0.0.1@evil/..."
    return prefix + rest
