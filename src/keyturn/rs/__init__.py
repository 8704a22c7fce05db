"""Resource-server toolkit: verify Keyturn access tokens locally against the JWKS.

A payments service can depend on this subpackage alone: it never imports
Keyturn's storage or endpoints. Usage with FastAPI::

    from keyturn.rs import JWKSCache, TokenVerifier, bearer_dependency

    verifier = TokenVerifier(issuer="https://auth.example", audience="https://auth.example",
                             jwks=JWKSCache("https://auth.example/.well-known/jwks.json"))
    require_token = bearer_dependency(verifier, scope="payments:write")

    @app.post("/payments")
    async def pay(claims: dict = Depends(require_token)): ...

Rules enforced (RFC 9068 §4, RFC 8725): ``typ`` is ``at+jwt``; the algorithm
comes from an allow-list and must match the key's; the key is taken only by
exact ``kid`` from the issuer's JWKS (``jku``/``x5u``/``jwk`` headers are
ignored); ``iss`` exact, ``aud`` contains ours, ``exp``/``nbf``/``iat`` within
a leeway of at most 60 s. Keys older than ``max_age`` are refetched whatever the
cooldown; an unknown ``kid`` refreshes the JWKS at most once per
``min(cooldown, max_age)`` seconds; a fetch failure keeps serving the cached keys.
A planned rotation pre-publishes the next key ≥ ``max_age`` + 5 s before it signs.

DPoP (RFC 9449): ``TokenVerifier.verify_request(authorization, method=, url=, dpop_proofs=)`` accepts
``Authorization: DPoP <token>`` with one proof of the token's ``cnf.jkt`` key for this request (``htm``,
``htu``, ``iat`` window, ``ath``; the ``jti`` remembered in ``replay``, in-process by default — give every
process of one API a shared one); a DPoP-bound token sent as Bearer is refused. ``bearer_dependency(...,
base_url=)`` does this for FastAPI.

mTLS (RFC 8705 §3): a token bound to a client certificate (``cnf.x5t#S256``) passes ``verify_request`` only
with ``client_certificate=`` that certificate (an ``x509.Certificate``, DER/PEM bytes, or what your trusted
TLS-terminating proxy forwarded, e.g. nginx ``$ssl_client_escaped_cert``).
"""

from __future__ import annotations

from keyturn.rs._jwks import JWKSCache, JWKSUnavailable
from keyturn.rs._verify import (
    InsufficientScope,
    InvalidAccessToken,
    InvalidDPoPProof,
    MemoryReplayCache,
    ReplayCache,
    TokenVerifier,
    bearer_dependency,
)

__all__ = [
    "InsufficientScope",
    "InvalidAccessToken",
    "InvalidDPoPProof",
    "JWKSCache",
    "JWKSUnavailable",
    "MemoryReplayCache",
    "ReplayCache",
    "TokenVerifier",
    "bearer_dependency",
]
