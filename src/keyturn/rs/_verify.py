"""Access-token verification for resource servers, and a FastAPI/Starlette dependency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from keyturn.rs._jwks import JWKSCache


class InvalidAccessToken(Exception):
    """401 ``invalid_token``: missing, malformed, expired, wrong issuer/audience, bad signature."""


class InsufficientScope(Exception):
    """403 ``insufficient_scope``: the token lacks a required scope."""


class TokenVerifier:
    def __init__(self, *, issuer: str, audience: str, jwks: JWKSCache, leeway: int = 30,
                 algorithms: tuple[str, ...] = ("ES256", "RS256", "EdDSA"),
                 clock: Callable[[], float] = time.time) -> None:
        if leeway > 60:
            raise ValueError("leeway must be at most 60 seconds")
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.leeway = leeway
        self.algorithms = algorithms
        self.clock = clock

    async def verify(self, token: str, *, scope: str | None = None) -> dict[str, Any]:
        if not token or token.count(".") != 2 or len(token) > 8192:
            raise InvalidAccessToken("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidAccessToken("malformed token") from None
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise InvalidAccessToken("not an access token")
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or alg not in self.algorithms:
            raise InvalidAccessToken("algorithm or key not allowed")
        found = await self.jwks.key(kid)
        if found is None or found[0] != alg:
            raise InvalidAccessToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, found[1], algorithms=[found[0]], issuer=self.issuer, audience=self.audience,
                options={"require": ["exp", "iat", "iss", "sub", "aud", "client_id"],
                         "verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(str(exc)) from None
        now = self.clock()
        try:
            exp, iat, nbf = float(claims["exp"]), float(claims["iat"]), float(claims.get("nbf", claims["iat"]))
        except (TypeError, ValueError):
            raise InvalidAccessToken("bad time claims") from None
        # Valid strictly before exp (plus leeway); never issued or valid in the future beyond the leeway.
        if now >= exp + self.leeway or iat > now + self.leeway or nbf > now + self.leeway:
            raise InvalidAccessToken("token expired or not yet valid")
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
        token = header[7:].strip() if header[:7].lower() == "bearer " else header.strip()
        try:
            return await verifier.verify(token, scope=scope)
        except InvalidAccessToken:
            raise HTTPException(401, "invalid token",
                                {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'}) from None
        except InsufficientScope:
            raise HTTPException(403, "insufficient scope", {
                "WWW-Authenticate": f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'}) from None

    return dependency
