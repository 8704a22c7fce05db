"""DPoP (RFC 9449): proof JWT verification, JWK thumbprints (RFC 7638), ``ath``. Pure: no I/O, no clock.

What needs state — the ``jti`` replay cache shared by every worker and node, the server nonces — is in
``keyturn.services.dpop``; this module decides whether one proof, taken alone, is valid for one request
(RFC 9449 §4.3). Signatures are checked by PyJWT's algorithm objects (the key from ``jwt.PyJWK``), never by
hand; the JWS is split with :func:`keyturn.core.jose.parse_jws` (strict: no duplicate members, no ``crit``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from keyturn.core import jose

# RFC 9449 §4.2: asymmetric only. FAPI 2.0 §5.4 forbids RS256 (PKCS#1 v1.5) and `none`; these are the default.
SAFE_ALGS: tuple[str, ...] = ("ES256", "PS256", "EdDSA", "ES384", "PS384", "ES512", "PS512")
# What the setting may list: the safe ones, and RS256 for an operator who must accept it (not FAPI 2.0).
KNOWN_ALGS: tuple[str, ...] = (*SAFE_ALGS, "RS256", "RS384", "RS512")
TYP = "dpop+jwt"
MAX_PROOF_LENGTH = 4096
MIN_RSA_BITS = 2048  # a smaller RSA key's proof is refused (NIST SP 800-131A)
# RFC 7638 §3.2: the required members of each key type, the only ones hashed
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
# Private members (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2) and the symmetric key value: never in a proof's jwk
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_KTY_OF_ALG = {"ES": "EC", "PS": "RSA", "RS": "RSA", "Ed": "OKP"}
_ALGORITHMS = jwt.PyJWS().get_algorithm_by_name  # PyJWT's algorithm objects: key loading and verification


class ProofInvalid(Exception):
    """The proof is not valid for this request (``invalid_dpop_proof``); the message is for the log."""


class NonceRequired(ProofInvalid):
    """The proof carries no nonce, or an unknown or stale one, where the server requires one (``use_dpop_nonce``)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK SHA-256 thumbprint (base64url): the required members only, sorted, no white space."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ProofInvalid("jwk is not an EC, RSA or OKP public key")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(ASCII access token))."""
    return b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalize_htu(url: str) -> str | None:
    """RFC 9449 §4.3 step 11: the URI without query and fragment, scheme and host lower-cased, the default port
    dropped (RFC 3986 §6.2.2-3 normalisation). None when it is not an absolute http(s) URI."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


@dataclass(frozen=True, slots=True)
class Rules:
    """What a verifier accepts (from the settings): algorithms, how far ``iat`` may be from now."""

    algorithms: tuple[str, ...] = ("ES256", "PS256", "EdDSA", "ES384")
    window: float = 60.0  # seconds ``iat`` may lie in the past (and, with ``leeway``, in the future)
    leeway: float = 10.0  # the clock difference between the client and us


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof found valid: the key's thumbprint (``cnf.jkt``), its ``jti`` for the replay cache, ``iat``."""

    jkt: str
    jti: str
    iat: float
    nonce: str | None


def verify_proof(proof: str, *, method: str, url: str, now: float, rules: Rules,
                 access_token: str | None = None) -> Proof:
    """RFC 9449 §4.3 checks 2-12 of one proof (check 1, exactly one ``DPoP`` header, is the caller's; so are
    the ``jti`` replay and the nonce, which need state). ``url``: the request's URI as the server knows
    it (from its configured public URL, never from ``Host``). ``access_token``: at a resource, the token
    the request presents, whose hash ``ath`` must be. Raises :class:`ProofInvalid`."""
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH:
        raise ProofInvalid("proof too long")
    try:
        parsed = jose.parse_jws(proof)  # §4.3 (2)-(3): a well-formed JWT
    except jose.TokenInvalid as exc:
        raise ProofInvalid(str(exc)) from None
    header, claims = parsed.header, parsed.claims
    if header.get("typ") != TYP:  # (4)
        raise ProofInvalid("typ is not dpop+jwt")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in rules.algorithms or alg not in KNOWN_ALGS:  # (5): asymmetric, listed
        raise ProofInvalid("alg not allowed")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise ProofInvalid("no jwk header")
    if any(m in jwk for m in _PRIVATE_MEMBERS):  # (7): a public key only
        raise ProofInvalid("jwk holds private key material")
    if _KTY_OF_ALG.get(alg[:2]) != jwk.get("kty"):
        raise ProofInvalid("jwk does not fit alg")
    jkt = thumbprint(jwk)
    try:  # (6): the signature, by that key (loaded by PyJWT, as jwt.PyJWK does, without its per-call set-up)
        algorithm = _ALGORITHMS(alg)
        public = algorithm.from_jwk(jwk)
        ok = not (isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS) and \
            algorithm.verify(parsed.signing_input, public, parsed.signature)
    except Exception:  # noqa: BLE001 - an unusable key or a malformed signature is simply not valid
        ok = False
    if not ok:
        raise ProofInvalid("bad signature")
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 256 or not jti.isprintable():  # (3): required claims
        raise ProofInvalid("jti missing")
    if htm != method:  # (8)
        raise ProofInvalid("htm does not match the request method")
    expected = normalize_htu(url)
    if not isinstance(htu, str) or expected is None or normalize_htu(htu) != expected:  # (9)
        raise ProofInvalid("htu does not match the request URI")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise ProofInvalid("iat missing")
    if not now - rules.window - rules.leeway <= iat <= now + rules.leeway:  # (11)
        raise ProofInvalid("iat outside the accepted window")
    if access_token is not None:  # (12): at a resource, bound to the token presented
        ath = claims.get("ath")
        if not isinstance(ath, str) or ath != access_token_hash(access_token):
            raise ProofInvalid("ath does not match the access token")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise ProofInvalid("nonce is not a string")
    return Proof(jkt=jkt, jti=jti, iat=float(iat), nonce=nonce)
