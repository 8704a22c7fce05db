"""private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9, FAPI 2.0 §5.3.2.1).

The client proves it holds a private key by signing a short-lived JWT with it; the server checks the
signature with a public key from the client's own registered ``jwks`` (``Client.registered_metadata``;
keyturn.services.oidc.metadata validates it: public asymmetric keys only), or from the key set its registered
``jwks_uri`` publishes (keyturn.services.client_jwks: fetched within limits from an operator-allowed host,
cached, refetched on an unknown ``kid`` at most once per cooldown; no usable set is ``invalid_client``). The
rules, each refusing with ``invalid_client`` (401) through keyturn.services.client_auth:

- ``alg``: asymmetric only — ES256, ES384, PS256, PS384, EdDSA, or the one alg the client registered as
  ``token_endpoint_auth_signing_alg`` (RS256 only that way); never ``HS*`` or ``none``.
- the key: chosen by ``kid`` among the client's keys only; with no ``kid``, the one key that fits ``alg``.
- ``iss`` = ``sub`` = the client_id.
- ``aud``: exactly the issuer identifier, as a string (FAPI 2.0 §5.3.2.1 and RFC 7523bis: a token endpoint
  URL or a list is refused — an assertion meant for one server cannot be replayed at another's endpoint).
- ``exp`` required, at most ``client_assertion_max_lifetime`` s ahead (default 300, plus ``clock_leeway``);
  ``iat`` required and ``nbf`` if present not in the future (``clock_leeway``).
- ``jti`` required and single use until ``exp`` (the shared replay cache: Redis when configured,
  fail-closed 503 when it cannot answer).

PyJWT checks the signature (``jwt.decode`` with one algorithm and the chosen key); this module only chooses.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jwt

from keyturn.core.jose import ASSERTION_ALGS, REGISTRABLE_ALGS
from keyturn.core.models import Client
from keyturn.services import fapi
from keyturn.services.client_jwks import JwksUnavailable
from keyturn.services.context import Services

__all__ = ["ASSERTION_ALGS", "ASSERTION_TYPE", "REGISTRABLE_ALGS", "AssertionRefused", "allowed_algs",
           "choose_key", "claimed_client", "client_key", "verify_assertion"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LENGTH = 8192
MAX_JTI = 256
# alg -> (kty, crv or None)
_KEY_TYPE = {"ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "PS256": ("RSA", None),
             "PS384": ("RSA", None), "RS256": ("RSA", None), "EdDSA": ("OKP", "Ed25519")}


class AssertionRefused(Exception):
    """A client assertion that does not authenticate its client: ``reason`` is the metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def claimed_client(assertion: str) -> str:
    """The client an assertion names (its unverified ``sub``, else ``iss``), or "" when it names none."""
    if len(assertion) > MAX_LENGTH:
        return ""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return ""
    name = claims.get("sub", claims.get("iss"))
    return name if isinstance(name, str) else ""


def allowed_algs(client: Client) -> tuple[str, ...]:
    """The algs this client's assertions may use: the one it registered, else the asymmetric default set."""
    registered = (client.registered_metadata or {}).get("token_endpoint_auth_signing_alg")
    return (registered,) if isinstance(registered, str) and registered in REGISTRABLE_ALGS else ASSERTION_ALGS


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    kty, crv = _KEY_TYPE[alg]
    return (jwk.get("kty") == kty and (crv is None or jwk.get("crv") == crv)
            and jwk.get("use", "sig") == "sig" and jwk.get("alg", alg) == alg)


def choose_key(jwks: Any, kid: Any, alg: str) -> jwt.PyJWK:
    """The client's key for an assertion with header ``kid`` and ``alg`` (never a key from anywhere else)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise AssertionRefused("no_keys", "the client has no registered keys")
    if kid is not None:
        found = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
        if not found:
            raise AssertionRefused("unknown_kid", "no key of this client has this kid")
    else:
        found = [k for k in keys if isinstance(k, dict) and _fits(k, alg)]
        if len(found) != 1:
            raise AssertionRefused("unknown_kid", "no kid, and not exactly one key fits the alg")
    if not _fits(found[0], alg):
        raise AssertionRefused("bad_assertion", "the key does not fit the assertion's alg")
    try:
        return jwt.PyJWK(found[0], algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        raise AssertionRefused("bad_assertion", "the registered key cannot be used") from None


async def client_key(ctx: Services, client: Client, kid: Any, alg: str) -> jwt.PyJWK:
    """The key an assertion names: from the registered ``jwks``, else from the ``jwks_uri``'s set (RFC 7591 §2:
    one or the other), refetched once (within the cooldown) when the set lacks it: the client rotated."""
    registered = client.registered_metadata or {}
    uri = registered.get("jwks_uri")
    if not isinstance(uri, str):
        return choose_key(registered.get("jwks"), kid, alg)
    try:
        jwks = await ctx.client_jwks.keys(uri)
        try:
            return choose_key(jwks, kid, alg)
        except AssertionRefused as refused:
            if refused.reason != "unknown_kid":
                raise
        return choose_key(await ctx.client_jwks.refetch(uri, jwks), kid, alg)
    except JwksUnavailable as failed:
        raise AssertionRefused("jwks_unavailable", str(failed)) from None


async def verify_assertion(ctx: Services, client: Client, assertion: str, now: float) -> None:
    """Whether ``assertion`` authenticates ``client``: returns, or raises :class:`AssertionRefused`."""
    if len(assertion) > MAX_LENGTH:
        raise AssertionRefused("bad_assertion", "client_assertion is too long")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise AssertionRefused("bad_assertion", "client_assertion is not a JWS") from None
    alg = header.get("alg")
    algs = fapi.assertion_algs(ctx.settings, client, allowed_algs(client))  # FAPI 2.0 §5.4.1
    if not isinstance(alg, str) or alg not in algs:
        raise AssertionRefused("bad_assertion", f"client_assertion alg must be one of {', '.join(algs)}")
    key = await client_key(ctx, client, header.get("kid"), alg)
    iss = ctx.settings.issuer
    leeway = ctx.settings.clock_leeway
    try:
        claims = jwt.decode(
            assertion, key, algorithms=[alg], audience=iss, issuer=client.client_id,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False, "strict_aud": True})
    except jwt.InvalidAudienceError:
        raise AssertionRefused("bad_assertion", "client_assertion aud must be the issuer identifier") from None
    except jwt.InvalidTokenError as exc:
        raise AssertionRefused("bad_assertion", f"client_assertion refused: {type(exc).__name__}") from None
    if claims["sub"] != client.client_id:
        raise AssertionRefused("bad_assertion", "client_assertion iss and sub must be the client_id")
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (exp, iat, nbf)):
        raise AssertionRefused("bad_assertion", "client_assertion exp, iat and nbf must be numbers")
    if exp <= now:
        raise AssertionRefused("bad_assertion", "client_assertion has expired")
    lifetime = ctx.settings.client_assertion_max_lifetime
    if exp > now + lifetime + leeway:
        raise AssertionRefused("bad_assertion", f"client_assertion exp is more than {lifetime} s ahead")
    if iat > now + leeway or nbf > now + leeway:
        raise AssertionRefused("bad_assertion", "client_assertion is not valid yet")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise AssertionRefused("bad_assertion", "client_assertion jti must be a string")
    key_name = hashlib.sha256(f"{client.client_id}\n{jti}".encode()).hexdigest()
    if not await ctx.shared.first_use(f"client-assertion:{key_name}", exp - now + leeway):
        raise AssertionRefused("replayed_assertion", "client_assertion jti was already used")
