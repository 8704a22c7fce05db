"""The client's address: the one answer every per-address decision uses.

The TCP peer (the ASGI scope's ``client``), or, when that peer is one of ``KEYTURN_TRUSTED_PROXIES``,
the right-most ``X-Forwarded-For`` hop no trusted proxy vouches for (keyturn.core.addresses). A
credential's address entries, the login and client-authentication limits, the audit trail, the access
log and ``KEYTURN_METRICS_ALLOW`` all ask here, so behind a trusted proxy they all see the real client,
and without one none of them reads a header a client could write. Computed once per request (kept in
the scope). ``Forwarded`` (RFC 7239) is not read: a proxy that appends to ``X-Forwarded-For`` may pass a
client's ``Forwarded`` through untouched.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from keyturn.core.addresses import forwarded_client, networks
from keyturn.web.state import services

ADDRESS_KEY = "keyturn.client_address"
HEADER = b"x-forwarded-for"


def client_address(scope: Scope, trusted: tuple[str, ...]) -> str | None:
    """The client's address for this request (None: no peer address, e.g. a Unix socket without one)."""
    if ADDRESS_KEY in scope:
        found: str | None = scope[ADDRESS_KEY]
        return found
    peer = scope.get("client")
    host: str | None = peer[0] if peer else None
    if trusted:
        values = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == HEADER]
        host = forwarded_client(host, values, networks(trusted))
    scope[ADDRESS_KEY] = host
    return host


def client_ip(request: Request) -> str | None:
    """:func:`client_address` of an endpoint's request, with the server's ``KEYTURN_TRUSTED_PROXIES``."""
    return client_address(request.scope, services(request).settings.trusted_proxies)
