"""Key pairs and client assertions (RFC 7523 §3) for the private_key_jwt tests."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.conftest import ISSUER

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class KeyPair:
    """A private key and its public JWK (with ``kid``), for one alg."""

    def __init__(self, alg: str = "ES256", kid: str | None = "k1") -> None:
        self.alg = alg
        if alg == "ES256":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "ES384":
            self.private = ec.generate_private_key(ec.SECP384R1())
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            jwk = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.jwk: dict[str, Any] = {**jwk, **({"kid": kid} if kid else {})}
        self.kid = kid

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def assertion(self, client_id: str, *, now: float | None = None, alg: str | None = None,
                  headers: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
        """A client assertion for ``client_id``; ``claims`` override (a None value drops the claim)."""
        t = time.time() if now is None else now
        body = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": int(t), "exp": int(t) + 60,
                "jti": secrets.token_urlsafe(16)}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        head = {"kid": self.kid} if self.kid else {}
        head.update(headers or {})
        return jwt.encode(body, self.private if key is None else key, algorithm=alg or self.alg, headers=head)


def form(client_id: str | None, assertion: str, **extra: str) -> dict[str, str]:
    data = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}
    if client_id is not None:
        data["client_id"] = client_id
    return data
