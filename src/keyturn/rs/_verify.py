"""Access-token verification for resource servers, and a FastAPI/Starlette dependency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from keyturn.core import jose
from keyturn.core.bearer import bearer_token
from keyturn.rs._jwks import JWKSCache

REQUIRED = ("exp", "iat", "iss", "sub", "aud", "client_id")


class InvalidAccessToken(Exception):
    """401 ``invalid_token``: missing, malformed, expired, wrong issuer/audience, bad signature."""


class InsufficientScope(Exception):
    """403 ``insufficient_scope``: the token lacks a required scope."""


class TokenVerifier:
    """Checks exactly what Keyturn itself checks (:func:`keyturn.core.jose.check_claims`): strict JOSE
    parsing (no duplicate members, no ``crit``), ``typ`` at+jwt, an allow-listed algorithm matching the
    key's, the key by exact ``kid`` from the issuer's JWKS, exact ``iss``, ``aud`` containing ours,
    ``exp``/``nbf``/``iat`` within ``leeway`` (one documented leeway, at most 60 s)."""

    def __init__(self, *, issuer: str, audience: str, jwks: JWKSCache, leeway: int = jose.DEFAULT_LEEWAY,
                 algorithms: tuple[str, ...] = jose.ALLOWED_ALGS,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 <= leeway <= jose.MAX_LEEWAY:
            raise ValueError("leeway must be at most 60 seconds")
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.leeway = leeway
        self.algorithms = algorithms
        self.clock = clock
        self.expect = jose.Expect(issuer=issuer, typ="at+jwt", audience=audience, require=REQUIRED,
                                  leeway=leeway, exp_leeway=leeway, algorithms=algorithms)

    async def verify(self, token: str, *, scope: str | None = None) -> dict[str, Any]:
        try:
            parsed = jose.parse_jws(token)
            jose.check_header(parsed, self.expect)  # before any fetch: junk never reaches the JWKS
        except jose.TokenInvalid as exc:
            raise InvalidAccessToken(str(exc)) from None
        kid = parsed.kid
        if not isinstance(kid, str):
            raise InvalidAccessToken("no key id")
        found = await self.jwks.key(kid)
        if found is None:
            raise InvalidAccessToken("unknown signing key")
        try:
            claims = jose.verify_parsed(parsed, found[0], found[1], self.expect, self.clock())
        except jose.TokenInvalid as exc:
            raise InvalidAccessToken(str(exc)) from None
        if scope is not None and scope not in str(claims.get("scope", "")).split():
            raise InsufficientScope(scope)
        return claims


def bearer_dependency(verifier: TokenVerifier, scope: str | None = None
                      ) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    """A FastAPI dependency answering RFC 6750 §3 challenges (401 invalid_token, 403 insufficient_scope)."""
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    async def dependency(request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        if not header:
            raise HTTPException(401, "authentication required", {"WWW-Authenticate": 'Bearer realm="api"'})
        try:
            return await verifier.verify(bearer_token(header, prefix_optional=True) or "", scope=scope)
        except InvalidAccessToken:
            raise HTTPException(401, "invalid token",
                                {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'}) from None
        except InsufficientScope:
            raise HTTPException(403, "insufficient scope", {
                "WWW-Authenticate": f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'}) from None

    return dependency
