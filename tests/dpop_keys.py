"""A DPoP client for tests (RFC 9449 §4.2): a key pair and proofs signed with PyJWT."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyturn.core.dpop import access_token_hash, thumbprint


class DPoPKey:
    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg.startswith("ES"):
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
            self.private: Any = ec.generate_private_key(curve)
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.jwk = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        else:  # PS*/RS*
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))

    @property
    def jkt(self) -> str:
        return thumbprint(self.jwk)

    def proof(self, method: str, url: str, *, token: str | None = None, iat: float | None = None,
              jti: str | None = None, nonce: str | None = None, header: dict[str, Any] | None = None,
              claims: dict[str, Any] | None = None, alg: str | None = None) -> str:
        body: dict[str, Any] = {"jti": jti or uuid.uuid4().hex, "htm": method, "htu": url,
                                "iat": int(time.time() if iat is None else iat)}
        if token is not None:
            body["ath"] = access_token_hash(token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return jwt.encode(body, self.private, algorithm=alg or self.alg, headers=headers)
