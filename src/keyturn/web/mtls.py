"""The client certificate of a request (RFC 8705), as the TLS-terminating proxy in front of Keyturn forwards it.

Read from ``KEYTURN_MTLS_CERT_HEADER`` only when the TCP peer (the ASGI scope's ``client``, not the
``X-Forwarded-For`` answer) is one of ``KEYTURN_TRUSTED_PROXIES``: the same trust decision
keyturn.web.server.address makes. From any other peer the header is ignored, so a client talking to Keyturn
directly cannot claim a certificate. Computed once per request (kept in the scope).
"""

from __future__ import annotations

from cryptography import x509
from starlette.requests import Request
from starlette.types import Scope

from keyturn.core.addresses import address_in, networks
from keyturn.core.mtls import parse_certificate, thumbprint
from keyturn.settings import Settings
from keyturn.web.state import services

CERT_KEY = "keyturn.client_certificate"


def forwarded_certificate(scope: Scope, settings: Settings) -> x509.Certificate | None:
    """The certificate the trusted proxy forwarded for this request, or None (mTLS off, untrusted peer, none)."""
    if CERT_KEY in scope:
        found: x509.Certificate | None = scope[CERT_KEY]
        return found
    cert = None
    header = settings.mtls_cert_header.lower().encode("latin-1")
    peer = scope.get("client")
    if header and peer and settings.trusted_proxies and address_in(peer[0], networks(settings.trusted_proxies)):
        values = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == header]
        if len(values) == 1:  # two certificates are never picked from
            cert = parse_certificate(values[0])
    scope[CERT_KEY] = cert
    return cert


def client_certificate(request: Request) -> x509.Certificate | None:
    """:func:`forwarded_certificate` of an endpoint's request, with the server's settings."""
    return forwarded_certificate(request.scope, services(request).settings)


def certificate_thumbprint(request: Request) -> str | None:
    """The ``x5t#S256`` of the request's client certificate (RFC 8705 §3.1), or None."""
    cert = client_certificate(request)
    return thumbprint(cert) if cert is not None else None
