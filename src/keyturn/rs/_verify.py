"""Access-token verification for resource servers, and a FastAPI/Starlette dependency."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from cryptography import x509

from keyturn.core import dpop, jose, mtls
from keyturn.core.bearer import access_token
from keyturn.rs._jwks import JWKSCache

REQUIRED = ("exp", "iat", "iss", "sub", "aud", "client_id")


class InvalidAccessToken(Exception):
    """401 ``invalid_token``: missing, malformed, expired, wrong issuer/audience, bad signature."""


class InvalidDPoPProof(InvalidAccessToken):
    """401 ``invalid_dpop_proof`` (RFC 9449 §7.1): the DPoP proof is missing, invalid, replayed, or not for
    this request."""


class InsufficientScope(Exception):
    """403 ``insufficient_scope``: the token lacks a required scope."""


class ReplayCache(Protocol):
    """Where DPoP ``jti``s are remembered: ``first_use(key, ttl)`` is True the first time ``key`` is seen within
    ``ttl`` seconds. Several processes serving one API must share one (e.g. Redis ``SET NX PX``)."""

    async def first_use(self, key: str, ttl: float) -> bool: ...


class MemoryReplayCache:
    """An in-process :class:`ReplayCache` (one process's view), bounded: expired entries are dropped as it grows."""

    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 100_000) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._until: dict[str, float] = {}

    async def first_use(self, key: str, ttl: float) -> bool:
        now = self.clock()
        if self._until.get(key, 0.0) > now:
            return False
        if len(self._until) >= self.max_entries:
            self._until = {k: t for k, t in self._until.items() if t > now}
            if len(self._until) >= self.max_entries:  # all live: forget the older half (they expire first)
                self._until = dict(sorted(self._until.items(), key=lambda kv: kv[1])[len(self._until) // 2:])
        self._until[key] = now + ttl
        return True


class TokenVerifier:
    """Checks exactly what Keyturn itself checks (:func:`keyturn.core.jose.check_claims`): strict JOSE
    parsing (no duplicate members, no ``crit``), ``typ`` at+jwt, an allow-listed algorithm matching the
    key's, the key by exact ``kid`` from the issuer's JWKS, exact ``iss``, ``aud`` containing ours,
    ``exp``/``nbf``/``iat`` within ``leeway`` (one documented leeway, at most 60 s)."""

    def __init__(self, *, issuer: str, audience: str, jwks: JWKSCache, leeway: int = jose.DEFAULT_LEEWAY,
                 algorithms: tuple[str, ...] = jose.ALLOWED_ALGS,
                 clock: Callable[[], float] = time.time,
                 dpop_algorithms: tuple[str, ...] = ("ES256", "PS256", "EdDSA", "ES384"), dpop_window: int = 60,
                 replay: ReplayCache | None = None) -> None:
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
        self.dpop_rules = dpop.Rules(algorithms=dpop_algorithms, window=dpop_window, leeway=leeway)
        self.replay: ReplayCache = replay or MemoryReplayCache(clock)

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

    async def verify_request(self, authorization: str, *, method: str, url: str, dpop_proofs: Sequence[str] = (),
                             scope: str | None = None,
                             client_certificate: x509.Certificate | bytes | str | None = None) -> dict[str, Any]:
        """An ``Authorization`` header (``Bearer`` or ``DPoP``, RFC 9449 §7.1) with the request's ``DPoP``
        headers, method and URI (as clients address this API: its public base URL and the path, without query).
        A DPoP-bound token (``cnf.jkt``) is accepted only as ``DPoP`` with one proof of its key for this request
        (``htm``, ``htu``, ``iat`` window, ``ath``), whose ``jti`` was not seen before; a Bearer token must not
        be bound. A certificate-bound token (``cnf.x5t#S256``, RFC 8705 §3) is accepted only with
        ``client_certificate``, the request's TLS client certificate, being that one: an ``x509.Certificate``, its
        DER or PEM bytes, or the value a TLS-terminating proxy forwarded (nginx ``$ssl_client_escaped_cert``;
        pass it only from a proxy you trust). Raises :class:`InvalidAccessToken`, :class:`InvalidDPoPProof` or
        :class:`InsufficientScope`."""
        found = access_token(authorization, prefix_optional=True)
        if found is None:
            raise InvalidAccessToken("malformed Authorization header")
        scheme, token = found
        claims = await self.verify(token)
        await self._check_binding(claims, scheme, token, method, url, dpop_proofs)
        self._check_certificate(claims, client_certificate)
        if scope is not None and scope not in str(claims.get("scope", "")).split():  # once the sender is proven
            raise InsufficientScope(scope)
        return claims

    @staticmethod
    def _check_certificate(claims: dict[str, Any], client_certificate: x509.Certificate | bytes | str | None) -> None:
        cnf = claims.get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
        if bound is None:
            return
        cert = _certificate(client_certificate)
        if not isinstance(bound, str) or cert is None or not jose.same_thumbprint(mtls.thumbprint(cert), bound):
            raise InvalidAccessToken("a certificate-bound token without its client certificate")

    async def _check_binding(self, claims: dict[str, Any], scheme: str, token: str, method: str, url: str,
                             dpop_proofs: Sequence[str]) -> None:
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if scheme != "dpop":
            if jkt is not None:
                raise InvalidAccessToken("a DPoP-bound token presented as Bearer")
            return
        if not isinstance(jkt, str):
            raise InvalidAccessToken("not a DPoP-bound token")
        if len(dpop_proofs) != 1:
            raise InvalidDPoPProof("exactly one DPoP header is required")
        now = self.clock()
        try:
            proof = dpop.verify_proof(dpop_proofs[0], method=method, url=url, now=now, rules=self.dpop_rules,
                                      access_token=token)
        except dpop.ProofInvalid as exc:
            raise InvalidDPoPProof(str(exc)) from None
        if not jose.same_thumbprint(proof.jkt, jkt):
            raise InvalidAccessToken("the DPoP proof's key is not the token's")
        ttl = self.dpop_rules.window + 2 * self.dpop_rules.leeway + 1
        if not await self.replay.first_use("dpop:" + hashlib.sha256(f"{jkt}:{proof.jti}".encode()).hexdigest(), ttl):
            raise InvalidDPoPProof("replayed proof")


def _certificate(value: x509.Certificate | bytes | str | None) -> x509.Certificate | None:
    if value is None or isinstance(value, x509.Certificate):
        return value
    if isinstance(value, bytes):
        try:
            return (x509.load_pem_x509_certificate(value) if value.lstrip().startswith(b"-----")
                    else x509.load_der_x509_certificate(value))
        except ValueError:
            return None
    return mtls.parse_certificate(value)


def bearer_dependency(verifier: TokenVerifier, scope: str | None = None, *, base_url: str | None = None
                      ) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    """A FastAPI dependency answering RFC 6750 §3 challenges (401 invalid_token, 403 insufficient_scope), and
    RFC 9449 §7.1 ones for DPoP (401 ``DPoP error="invalid_dpop_proof"``). ``base_url``: this API's public URL
    (``https://payments.example``), from which a DPoP proof's ``htu`` is checked; without it, the request's own
    URL, which behind a proxy rewriting ``Host`` or the scheme is not the one clients sign."""
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    algs = " ".join(verifier.dpop_rules.algorithms)

    async def dependency(request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        if not header:
            raise HTTPException(401, "authentication required", {"WWW-Authenticate": 'Bearer realm="api"'})
        url = base_url.rstrip("/") + request.url.path if base_url else str(request.url)
        try:
            return await verifier.verify_request(header, method=request.method, url=url, scope=scope,
                                                 dpop_proofs=request.headers.getlist("dpop"))
        except InvalidDPoPProof:
            raise HTTPException(401, "invalid DPoP proof", {
                "WWW-Authenticate": f'DPoP realm="api", error="invalid_dpop_proof", algs="{algs}"'}) from None
        except InvalidAccessToken:
            raise HTTPException(401, "invalid token",
                                {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'}) from None
        except InsufficientScope:
            raise HTTPException(403, "insufficient scope", {
                "WWW-Authenticate": f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'}) from None

    return dependency
