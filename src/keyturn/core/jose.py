"""Signing keys and JWTs, on PyJWT + cryptography. Nothing here is hand-rolled.

Verification always passes an explicit algorithm allow-list and takes the key
by exact ``kid`` from our own key set; ``none`` is never accepted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, cast

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ALLOWED_ALGS = ("ES256", "RS256", "EdDSA")
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {alg}")


def private_pem(key: PrivateKey, password: bytes | None = None) -> str:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc).decode()


def load_private_pem(pem: str, password: bytes | None = None) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=password)
    assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey))
    return key


def public_jwk(key: PrivateKey, alg: str) -> dict[str, Any]:
    """Public members only, with a RFC 7638 thumbprint as ``kid``."""
    if alg == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
        d = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        members = {"crv": d["crv"], "kty": "EC", "x": d["x"], "y": d["y"]}
    elif alg == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        d = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        members = {"e": d["e"], "kty": "RSA", "n": d["n"]}
    elif alg == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey):
        d = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        members = {"crv": d["crv"], "kty": "OKP", "x": d["x"]}
    else:
        raise ValueError(f"key type does not match algorithm {alg}")
    thumb = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(thumb).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": alg}


@dataclass(slots=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey
    jwk: dict[str, Any]
    _public: Any = field(default=None)

    @property
    def public(self) -> Any:
        if self._public is None:
            self._public = self.private.public_key()
        return self._public


_JWS = jwt.PyJWS()


def sign(claims: dict[str, Any], key: SigningKey, typ: str = "JWT") -> str:
    """PyJWT's JWS signs; the claims are serialised once with orjson (compact, RFC 8259)."""
    return _JWS.encode(orjson.dumps(claims), key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})


class TokenInvalid(Exception):
    pass


def verify(token: str, keys: dict[str, SigningKey], *, issuer: str, typ: str | None,
           audience: str | list[str] | None = None, leeway: int = 0,
           require: tuple[str, ...] = ("exp", "iat", "iss", "sub"), now: float | None = None) -> dict[str, Any]:
    """Verify a JWT signed by one of our keys. Raises TokenInvalid with a private reason.

    ``now`` (the server's clock) replaces PyJWT's wall clock for ``exp``/``nbf``: valid strictly
    before ``exp`` (RFC 7519 §4.1.4), with the same float seconds everywhere (F15).
    """
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
        raise TokenInvalid("not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid(f"bad header: {exc}") from None
    kid = header.get("kid")
    alg = header.get("alg")
    if not isinstance(kid, str) or kid not in keys:
        raise TokenInvalid("unknown kid")
    key = keys[kid]
    if alg != key.alg or alg not in ALLOWED_ALGS:
        raise TokenInvalid("algorithm not allowed for this key")
    if typ is not None and str(header.get("typ", "")).lower() not in (typ, "application/" + typ):
        raise TokenInvalid("wrong typ")
    options: dict[str, Any] = {"require": list(require), "verify_aud": audience is not None}
    if now is not None:
        options.update(verify_exp=False, verify_nbf=False, verify_iat=False)
    try:
        claims: dict[str, Any] = jwt.decode(token, key.public, algorithms=[key.alg], issuer=issuer,
                                            leeway=leeway, audience=audience, options=cast(Any, options))
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from None
    if now is not None:
        check_times(claims, now, leeway, require_exp="exp" in require)
    return claims


def check_times(claims: dict[str, Any], now: float, leeway: int = 0, require_exp: bool = True) -> None:
    """Valid strictly before ``exp`` and not before ``nbf`` (RFC 7519 §4.1.4–4.1.5), one unit: seconds."""
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if require_exp and (not isinstance(exp, int | float) or isinstance(exp, bool) or now >= exp + leeway):
        raise TokenInvalid("expired")
    if nbf is not None and (not isinstance(nbf, int | float) or isinstance(nbf, bool) or now + leeway < nbf):
        raise TokenInvalid("not yet valid")


class VerifiedTokens:
    """Signature results for exact token strings, bounded; time claims are re-checked on every use.

    A token string's signature cannot change, so a resource server that introspects the same
    token many times pays for one ECDSA verification. A hit still requires the signing key to be
    in the current key set.
    """

    def __init__(self, max_entries: int = 20000) -> None:
        self.max_entries = max_entries
        self._data: dict[str, tuple[str, dict[str, Any]]] = {}

    def get(self, token: str, keys: dict[str, SigningKey]) -> dict[str, Any] | None:
        hit = self._data.get(token)
        if hit is None or hit[0] not in keys:
            return None
        return hit[1]

    def put(self, token: str, kid: str, claims: dict[str, Any]) -> None:
        if len(self._data) >= self.max_entries:
            self._data.pop(next(iter(self._data)))  # oldest first
        self._data[token] = (kid, claims)


def half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash / c_hash: left half of the hash, base64url."""
    h = hashlib.sha512(value.encode()).digest() if alg == "EdDSA" else hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(h[: len(h) // 2]).rstrip(b"=").decode()
