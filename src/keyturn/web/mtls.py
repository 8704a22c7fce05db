"""The client certificate of a request (RFC 8705), as the TLS-terminating proxy in front of Keyturn forwards it.

Read from ``KEYTURN_MTLS_CERT_HEADER`` only when the TCP peer (the ASGI scope's ``client``, not the
``X-Forwarded-For`` answer) is one of ``KEYTURN_TRUSTED_PROXIES``: the same trust decision
keyturn.web.server.address makes. From any other peer the header is ignored, so a client talking to Keyturn
directly cannot claim a certificate. Computed once per request (kept in the scope).

``KEYTURN_MTLS_VERIFY_HEADER`` (nginx ``$ssl_client_verify``) is read the same way: whether the proxy verified
the certificate's chain against its CAs (``SUCCESS``), which ``tls_client_auth`` needs when the proxy forwards
unverified certificates too (``ssl_verify_client optional_no_ca``, for self-signed clients).
"""

from __future__ import annotations

from cryptography import x509
from starlette.requests import Request
from starlette.types import Scope

from keyturn.core.addresses import address_in, networks
from keyturn.core.mtls import VERIFIED, parse_certificate, thumbprint
from keyturn.settings import Settings
from keyturn.web.state import services

CERT_KEY = "keyturn.client_certificate"


def _from_proxy(scope: Scope, settings: Settings, name: str) -> str | None:
    """The one value of header ``name`` when the TCP peer is a trusted proxy; None otherwise (or sent twice)."""
    header = name.lower().encode("latin-1")
    peer = scope.get("client")
    if header and peer and settings.trusted_proxies and address_in(peer[0], networks(settings.trusted_proxies)):
        values = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == header]
        if len(values) == 1:  # two values are never picked from
            return str(values[0])
    return None


def forwarded_certificate(scope: Scope, settings: Settings) -> x509.Certificate | None:
    """The certificate the trusted proxy forwarded for this request, or None (mTLS off, untrusted peer, none)."""
    if CERT_KEY in scope:
        found: x509.Certificate | None = scope[CERT_KEY]
        return found
    value = _from_proxy(scope, settings, settings.mtls_cert_header)
    cert = parse_certificate(value) if value is not None else None
    scope[CERT_KEY] = cert
    return cert


def client_certificate(request: Request) -> x509.Certificate | None:
    """:func:`forwarded_certificate` of an endpoint's request, with the server's settings."""
    return forwarded_certificate(request.scope, services(request).settings)


def certificate_thumbprint(request: Request) -> str | None:
    """The ``x5t#S256`` of the request's client certificate (RFC 8705 §3.1), or None."""
    cert = client_certificate(request)
    return thumbprint(cert) if cert is not None else None


def proxy_verified(scope: Scope, settings: Settings) -> bool:
    """Whether the proxy verified the chain of the certificate it forwarded: with ``KEYTURN_MTLS_VERIFY_HEADER``,
    its value from the trusted proxy is ``SUCCESS``; without, True (the proxy is then configured to forward
    verified certificates only, docs/fapi2.md)."""
    if not settings.mtls_verify_header:
        return True
    return _from_proxy(scope, settings, settings.mtls_verify_header) == VERIFIED


def certificate_verified(request: Request) -> bool:
    """:func:`proxy_verified` of an endpoint's request, with the server's settings."""
    return proxy_verified(request.scope, services(request).settings)
