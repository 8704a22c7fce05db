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
"""

from __future__ import annotations

from keyturn.rs._jwks import JWKSCache, JWKSUnavailable
from keyturn.rs._verify import InsufficientScope, InvalidAccessToken, TokenVerifier, bearer_dependency

__all__ = [
    "InsufficientScope",
    "InvalidAccessToken",
    "JWKSCache",
    "JWKSUnavailable",
    "TokenVerifier",
    "bearer_dependency",
]
