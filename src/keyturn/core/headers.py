"""Header names Keyturn reads with a meaning of its own, and the check of a configurable one.

The account-selection header (``KEYTURN_ACCOUNT_HEADER``: ``X-Keyturn-Account`` by default, Centrapay's
``X-Centrapay-Account``) is a setting; it must be a legal HTTP field name (RFC 9110 §5.1: a ``token``) and
none of the headers that already mean something else to Keyturn, a gateway or HTTP itself.
"""

from __future__ import annotations

import string

DEFAULT_ACCOUNT_HEADER = "X-Keyturn-Account"

# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
#                        / DIGIT / ALPHA
_TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")

# Headers whose meaning is taken: credentials, the body, the connection (RFC 9110 §7.6.1 hop-by-hop),
# browsers (CORS, cookies), proxies, and the headers of Keyturn's own decisions (docs/forward-auth.md).
RESERVED = frozenset({
    "authorization", "x-api-key", "proxy-authorization", "cookie", "set-cookie", "host", "origin", "referer",
    "content-type", "content-length", "content-encoding", "transfer-encoding", "te", "trailer", "connection",
    "keep-alive", "upgrade", "proxy-connection", "expect", "forwarded", "x-forwarded-for", "x-forwarded-host",
    "x-forwarded-proto", "x-real-ip", "x-request-id", "x-keyturn-permission", "x-keyturn-subject",
    "x-keyturn-principal-kind", "x-keyturn-role", "x-keyturn-client-id", "accept", "user-agent",
})
_RESERVED_PREFIXES = ("access-control-", "sec-", "proxy-")


def account_header_problem(name: str) -> str | None:
    """Why ``name`` cannot be the account-selection header, or None when it can."""
    if not name or len(name) > 64 or not set(name) <= _TCHAR:
        return ("must be an HTTP header name (RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~), "
                "1-64 characters, such as X-Centrapay-Account")
    lowered = name.lower()
    if lowered in RESERVED or lowered.startswith(_RESERVED_PREFIXES):
        return f"{name} already means something else (a credential, CORS, proxy or Keyturn decision header)"
    return None
