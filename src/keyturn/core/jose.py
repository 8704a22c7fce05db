"""Signing keys and JWTs, on PyJWT + cryptography. Nothing here is hand-rolled.

Verification always passes an explicit algorithm allow-list and takes the key
by exact ``kid`` from our own key set; ``none`` is never accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyturn.core.text import RepeatedMember, unique_members

SigningAlg = Literal["ES256", "RS256", "EdDSA"]
ALLOWED_ALGS: tuple[SigningAlg, ...] = get_args(SigningAlg)  # what Keyturn signs with, and what verifiers accept
# What an OIDC client may register as id_token_signed_response_alg (services/oidc/clients.py, the management
# API's body, the CLI); the key ring always holds a key of each, whatever the defaults are, and discovery lists
# them all (tests/oidc/test_discovery_algs.py). EdDSA is Ed25519 (RFC 8037 §3.1, OKP keys).
ClientIdTokenAlg = Literal["RS256", "ES256", "EdDSA"]
CLIENT_ID_TOKEN_ALGS: tuple[ClientIdTokenAlg, ...] = get_args(ClientIdTokenAlg)
# private_key_jwt (RFC 7523, keyturn.services.client_assertion): the algs a client assertion may use without
# registering one, and every value token_endpoint_auth_signing_alg may take (RS256 only when registered)
ASSERTION_ALGS = ("ES256", "ES384", "PS256", "PS384", "EdDSA")
REGISTRABLE_ALGS = (*ASSERTION_ALGS, "RS256")
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
    """A JWT we refuse; the message is a private reason (logged, never sent)."""


DEFAULT_LEEWAY = 10
"""Seconds of clock difference tolerated when a time claim lies in the future (``nbf``, ``iat``): the one
documented leeway (docs/tokens.md). Resource servers apply it to ``exp`` too; Keyturn, the issuer,
does not (a token is dead at its ``exp`` there, F15)."""
MAX_LEEWAY = 60  # R68: a bounded leeway
MAX_TOKEN_LENGTH = 8192
MAX_TIME = 10**11  # seconds since 1970: year 5138; larger, NaN or infinite times are not times
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")  # Python's json would read NaN and Infinity


def _segment(seg: str, what: str) -> bytes:
    """base64url without padding (RFC 7515 §2); anything else is malformed."""
    if len(seg) % 4 == 1 or not _B64URL.fullmatch(seg):
        raise TokenInvalid(f"{what} is not base64url")
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    # RFC 7515 §5.2 / RFC 7519 §4: a JOSE header or claims set with duplicate member names is
    # rejected (not "last one wins", which lets two parsers disagree about the same token).
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=unique_members, parse_constant=_no_constant)
    except RepeatedMember as exc:
        raise TokenInvalid(f"{what}: {exc}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TokenInvalid(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise TokenInvalid(f"{what} is not a JSON object")
    return data


@dataclass(frozen=True, slots=True)
class ParsedJWS:
    """A compact JWS split and decoded strictly, not yet verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> object:
        return self.header.get("kid")

    @property
    def alg(self) -> object:
        return self.header.get("alg")


def parse_jws(token: str) -> ParsedJWS:
    """Split a compact JWS (RFC 7515 §7.1) and decode its header and claims, refusing duplicates."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenInvalid("not a compact JWS")
    h, p, sig = token.split(".")
    header = _json_object(_segment(h, "header"), "header")
    claims = _json_object(_segment(p, "payload"), "payload")
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extension, so none may be critical
        raise TokenInvalid("critical header parameter")
    return ParsedJWS(header, claims, f"{h}.{p}".encode("ascii"), _segment(sig, "signature"))


@dataclass(frozen=True, slots=True)
class Expect:
    """What a verifier requires of a token besides its signature (RFC 9068 §4, RFC 8725 §3)."""

    issuer: str
    typ: str | None  # "at+jwt" for access tokens (RFC 9068 §2.1), "jwt" for ID tokens
    audience: str | None = None  # must be (one of) the token's ``aud``
    require: tuple[str, ...] = ("exp", "iat", "iss", "sub")
    leeway: float = DEFAULT_LEEWAY  # for ``nbf`` and ``iat`` in the future
    exp_leeway: float = 0.0  # for ``exp`` (resource servers: the same leeway)
    check_exp: bool = True
    algorithms: tuple[str, ...] = ALLOWED_ALGS

    def __post_init__(self) -> None:
        if not 0 <= self.leeway <= MAX_LEEWAY or not 0 <= self.exp_leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < MAX_TIME:
        raise TokenInvalid(f"{name} is not a time")  # NumericDate (RFC 7519 §2): seconds, finite, plausible
    return float(value)


# Claims that must be strings when present: a number, a list or a NUL/surrogate in them is not our token.
STRING_CLAIMS = ("iss", "sub", "jti", "client_id", "scope", "kind", "account_id", "role", "gid", "nonce")
MAX_CLAIM_LENGTH = 4096


def _clean_string(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_CLAIM_LENGTH and value.isprintable()


def check_claims(claims: dict[str, Any], expect: Expect, now: float) -> None:
    """The claim rules every verifier applies, Keyturn's own and ``keyturn.rs`` alike (R68)."""
    missing = [c for c in expect.require if c not in claims]
    if missing:
        raise TokenInvalid(f"missing claim {missing[0]}")
    bad = [c for c in STRING_CLAIMS if c in claims and not _clean_string(claims[c])]
    aud = claims.get("aud")
    if bad or not (aud is None or _clean_string(aud) or (isinstance(aud, list) and all(map(_clean_string, aud)))):
        raise TokenInvalid(f"claim {(bad or ['aud'])[0]} is not a string")
    if claims.get("iss") != expect.issuer:
        raise TokenInvalid("wrong issuer")
    if expect.audience is not None:
        aud = claims.get("aud")
        if not (aud == expect.audience or (isinstance(aud, list) and expect.audience in aud)):
            raise TokenInvalid("wrong audience")
    exp, nbf, iat = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    # RFC 7519 §4.1.4: valid strictly before exp; one unit (seconds) everywhere (F15).
    if expect.check_exp and (exp is None or now >= exp + expect.exp_leeway):
        raise TokenInvalid("expired")
    if nbf is not None and nbf > now + expect.leeway:
        raise TokenInvalid("not yet valid")
    if iat is not None and iat > now + expect.leeway:
        raise TokenInvalid("issued in the future")


def check_header(parsed: ParsedJWS, expect: Expect) -> None:
    if parsed.alg not in expect.algorithms or parsed.alg not in ALLOWED_ALGS:
        raise TokenInvalid("algorithm not allowed")
    if expect.typ is not None:
        typ = parsed.header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in (expect.typ, "application/" + expect.typ):
            raise TokenInvalid("wrong typ")


def verify_parsed(parsed: ParsedJWS, key_alg: str, public_key: Any, expect: Expect, now: float) -> dict[str, Any]:
    """Signature with the key the caller found by ``kid`` (its algorithm must be the header's), then the claims."""
    check_header(parsed, expect)
    if parsed.alg != key_alg:
        raise TokenInvalid("algorithm does not match the key")
    try:
        ok = _JWS.get_algorithm_by_name(key_alg).verify(parsed.signing_input, public_key, parsed.signature)
    except Exception:  # noqa: BLE001 - a malformed signature or key is simply not valid
        ok = False
    if not ok:
        raise TokenInvalid("bad signature")
    check_claims(parsed.claims, expect, now)
    return parsed.claims


def verify(token: str, keys: dict[str, SigningKey], expect: Expect, now: float) -> dict[str, Any]:
    """Verify a JWT signed by one of our keys (exact ``kid``). Raises TokenInvalid with a private reason."""
    parsed = parse_jws(token)
    kid = parsed.kid
    if not isinstance(kid, str) or kid not in keys:
        raise TokenInvalid("unknown kid")
    key = keys[kid]
    return verify_parsed(parsed, key.alg, key.public, expect, now)


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
    """OIDC Core §3.1.3.6 / §3.3.2.11 at_hash / c_hash: the left half of the hash of the ASCII value, base64url.

    The hash is "the hash algorithm used in the alg Header Parameter": SHA-256 for RS256 and ES256. EdDSA
    names no hash; Ed25519 hashes with SHA-512 (RFC 8032 §5.1), so SHA-512 is used: the OpenID Connect
    working group's consensus and node-oidc-provider's choice (docs/tokens.md, "ID tokens")."""
    h = hashlib.sha512(value.encode()).digest() if alg == "EdDSA" else hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(h[: len(h) // 2]).rstrip(b"=").decode()


def same_thumbprint(presented: str | None, bound: str) -> bool:
    """Whether the key or certificate a request proves (its RFC 7638 ``jkt`` or RFC 8705 ``x5t#S256``) is the
    one a token, code or answer is bound to, compared in constant time; ``presented`` None: none was proven."""
    return presented is not None and hmac.compare_digest(presented.encode(), bound.encode())
