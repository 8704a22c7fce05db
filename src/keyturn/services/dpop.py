"""DPoP (RFC 9449) with state: the ``jti`` replay cache and the server nonces, at the token endpoint and at
every resource Keyturn serves. The proof itself is checked by :mod:`keyturn.core.dpop` (pure).

- Replay (§11.1): a proof's ``jti`` is accepted once per key within its ``iat`` window, through
  :meth:`keyturn.services.shared.Shared.first_use`: Redis when ``KEYTURN_REDIS_URL`` is set (every worker and
  node), this process otherwise. When Redis cannot answer the request gets 503 (fails closed).
- Nonces (§8, §9): stateless, so every worker and node accepts what another handed out: the nonce is an HMAC
  (``dpop_nonce_secret``) of the current time slot of ``dpop_nonce_lifetime`` seconds; the current and the
  previous slot's are accepted.
- The request URI a proof's ``htu`` must name is built from the configured issuer and the request's path,
  never from ``Host`` (:func:`public_url`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyturn.core import dpop
from keyturn.core.errors import DPoPRefused, InvalidDPoPProof, InvalidToken, UseDPoPNonce
from keyturn.core.jose import same_thumbprint
from keyturn.core.models import Client
from keyturn.services import fapi
from keyturn.services.context import Services
from keyturn.settings import Settings

log = logging.getLogger("keyturn.dpop")


@functools.lru_cache(maxsize=16)
def rules(settings: Settings) -> dpop.Rules:
    return dpop.Rules(algorithms=settings.dpop_signing_algs, window=settings.dpop_proof_window,
                      leeway=settings.clock_leeway)


def public_url(settings: Settings, path: str) -> str:
    """The URI of a request to ``path`` as clients address it: the issuer (scheme, host, port, any path prefix
    a proxy strips) and the path. Discovery derives every endpoint the same way."""
    return settings.issuer + path


def _nonce_at(settings: Settings, slot: int) -> str:
    secret = (settings.dpop_nonce_secret or "").encode()
    return dpop.b64url(hmac.new(secret, f"keyturn-dpop-nonce:{slot}".encode(), hashlib.sha256).digest())


def new_nonce(settings: Settings, now: float) -> str:
    """The nonce handed out now (the same on every node sharing ``dpop_nonce_secret``)."""
    return _nonce_at(settings, int(now // settings.dpop_nonce_lifetime))


def nonce_valid(settings: Settings, nonce: str | None, now: float) -> bool:
    """Whether ``nonce`` is the current or the previous slot's (compared in constant time)."""
    if nonce is None:
        return False
    slot = int(now // settings.dpop_nonce_lifetime)
    return any(hmac.compare_digest(nonce.encode(), _nonce_at(settings, s).encode()) for s in (slot, slot - 1))


async def check_proof(ctx: Services, proofs: Sequence[str], *, method: str, url: str, now: float,
                      access_token: str | None = None) -> dpop.Proof:
    """RFC 9449 §4.3 in full: exactly one ``DPoP`` header (1), the proof (2-12, pure), the nonce when required,
    the ``jti`` not seen before. Raises :class:`~keyturn.core.dpop.ProofInvalid` (or ``NonceRequired``)."""
    if len(proofs) != 1:
        raise dpop.ProofInvalid("exactly one DPoP header is allowed")
    settings = ctx.settings
    proof = dpop.verify_proof(proofs[0], method=method, url=url, now=now, rules=rules(settings),
                              access_token=access_token)
    if settings.dpop_nonce_required and not nonce_valid(settings, proof.nonce, now):
        raise dpop.NonceRequired("no current nonce")
    ttl = settings.dpop_proof_window + 2 * settings.clock_leeway + 1  # as long as its iat may be accepted
    key = "dpop:" + hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
    if not await ctx.shared.first_use(key, ttl):
        raise dpop.ProofInvalid("replayed proof (jti seen before)")
    return proof


async def token_request_jkt(ctx: Services, proofs: Sequence[str], *, client: Client, path: str,
                            now: float) -> str | None:
    """RFC 9449 §5 at the token endpoint: the thumbprint of the key a valid proof holds, None without a proof
    (refused for a client registered with ``dpop_bound_access_tokens``). Errors are RFC 6749 §5.2 JSON (400)."""
    if not proofs or not ctx.settings.dpop:
        if client.dpop_bound_access_tokens:
            raise InvalidDPoPProof("this client must send a DPoP proof")
        return None
    fapi.check_proof_alg(ctx.settings, client, proofs)  # FAPI 2.0 §5.4.1, before the proof is looked at
    return await proof_jkt(ctx, proofs, path=path, now=now)


async def pushed_request_jkt(ctx: Services, proofs: Sequence[str], *, client: Client, path: str,
                             now: float) -> str | None:
    """RFC 9449 §10.1 at the pushed authorization request endpoint: the thumbprint of the key a valid proof holds
    (the request's ``dpop_jkt``), None without a proof (optional there, whatever the client's
    ``dpop_bound_access_tokens``: its token requests carry proofs) or with DPoP off."""
    if not proofs or not ctx.settings.dpop:
        return None
    fapi.check_proof_alg(ctx.settings, client, proofs)  # FAPI 2.0 §5.4.1, as at /token
    return await proof_jkt(ctx, proofs, path=path, now=now)


async def proof_jkt(ctx: Services, proofs: Sequence[str], *, path: str, now: float) -> str:
    """The thumbprint of the key of a valid proof of ``POST`` to ``path`` at an authorization server endpoint;
    RFC 9449 §5 errors (400 ``invalid_dpop_proof``, or ``use_dpop_nonce`` with a ``DPoP-Nonce``)."""
    try:
        proof = await check_proof(ctx, proofs, method="POST", url=public_url(ctx.settings, path), now=now)
    except dpop.NonceRequired:
        raise UseDPoPNonce(new_nonce(ctx.settings, now)) from None
    except dpop.ProofInvalid as exc:
        raise InvalidDPoPProof("the DPoP proof is invalid", detail=str(exc)) from None
    return proof.jkt


def confirmation(claims: dict[str, Any]) -> str | None:
    """The ``cnf.jkt`` an access token is bound to (RFC 9449 §6.1), or None."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) else None


async def check_binding(ctx: Services, claims: dict[str, Any], *, scheme: str, token: str, proofs: Sequence[str],
                        method: str, url: str, now: float) -> None:
    """RFC 9449 §7.1 at a resource, once the token itself is found valid: a bound token comes with the DPoP scheme
    and a proof of its key for this request (``ath`` its hash); a Bearer token is not bound. Raises
    :class:`~keyturn.core.errors.DPoPRefused` (401, ``WWW-Authenticate: DPoP``)."""
    jkt = confirmation(claims)
    if scheme != "dpop":
        if jkt is not None:  # §7.2: a bound token never works as a Bearer token
            raise DPoPRefused("invalid_token", "this access token is DPoP-bound: send it as DPoP with a proof")
        return
    if jkt is None:
        raise DPoPRefused("invalid_token", "this access token is not DPoP-bound: send it as Bearer")
    try:
        proof = await check_proof(ctx, proofs, method=method, url=url, now=now, access_token=token)
    except dpop.NonceRequired:
        raise DPoPRefused("use_dpop_nonce", "a DPoP proof with the server's nonce is required",
                          nonce=new_nonce(ctx.settings, now)) from None
    except dpop.ProofInvalid as exc:
        log.info("DPoP proof refused: %s", exc)
        raise DPoPRefused("invalid_dpop_proof", "the DPoP proof is invalid") from None
    if not same_thumbprint(proof.jkt, jkt):
        raise DPoPRefused("invalid_token", "the DPoP proof's key is not the one the access token is bound to")


@dataclass(frozen=True, slots=True)
class Presented:
    """How a request presented its access token: ``Authorization`` scheme (``bearer`` or ``dpop``), its ``DPoP``
    headers, and the method and URI (:func:`public_url`) a proof must name; ``x5t``: the ``x5t#S256`` of the client
    certificate the trusted proxy forwarded (RFC 8705 §3, keyturn.web.mtls), None if none."""

    scheme: str
    token: str
    proofs: tuple[str, ...]
    method: str
    url: str
    x5t: str | None = None

    async def check(self, ctx: Services, claims: dict[str, Any], now: float) -> None:
        await check_binding(ctx, claims, scheme=self.scheme, token=self.token, proofs=self.proofs,
                            method=self.method, url=self.url, now=now)
        check_certificate(claims, self.x5t)


def check_certificate(claims: dict[str, Any], x5t: str | None) -> None:
    """RFC 8705 §3 at a resource: a token bound to a certificate (``cnf.x5t#S256``) is accepted only on a request
    presenting that certificate; otherwise :class:`~keyturn.core.errors.InvalidToken` (401)."""
    cnf = claims.get("cnf")
    bound = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if bound is None:
        return
    if not isinstance(bound, str) or not same_thumbprint(x5t, bound):
        raise InvalidToken("this access token is bound to a client certificate this request does not present")
