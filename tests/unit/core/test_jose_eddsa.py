"""Ed25519 keys and EdDSA JWTs in keyturn.core.jose (RFC 8037), on PyJWT + cryptography."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from keyturn.core import jose

# RFC 8037 Appendix A.1 (the private key), A.2 (its public key) and A.3 (its RFC 7638 thumbprint).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
NOW = 1_700_000_000.0
ISSUER = "https://auth.example.test"


def _rfc8037_key() -> jose.SigningKey:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC8037_D + "="))
    jwk = jose.public_jwk(private, "EdDSA")
    return jose.SigningKey(jwk["kid"], "EdDSA", private, jwk)


def _claims() -> dict[str, object]:
    return {"iss": ISSUER, "sub": "u1", "aud": "rp", "iat": int(NOW), "exp": int(NOW) + 60}


def test_the_published_jwk_is_rfc_8037s_okp_key_with_its_thumbprint_as_kid():
    key = _rfc8037_key()
    assert key.jwk == {"crv": "Ed25519", "kty": "OKP", "x": RFC8037_X, "kid": RFC8037_THUMBPRINT,
                       "use": "sig", "alg": "EdDSA"}


def test_a_generated_ed25519_key_survives_its_encrypted_pem():
    private = jose.generate_private_key("EdDSA")
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    again = jose.load_private_pem(jose.private_pem(private, b"pw"), b"pw")
    assert jose.public_jwk(again, "EdDSA") == jose.public_jwk(private, "EdDSA")
    with pytest.raises(ValueError):
        jose.public_jwk(private, "ES256")  # the key type must match the algorithm


def test_eddsa_is_accepted_only_where_the_allow_list_names_it():
    key = _rfc8037_key()
    token = jose.sign(_claims(), key)
    expect = jose.Expect(issuer=ISSUER, typ="jwt", audience="rp")
    assert jose.verify(token, {key.kid: key}, expect, NOW)["sub"] == "u1"
    narrowed = jose.Expect(issuer=ISSUER, typ="jwt", audience="rp", algorithms=("ES256", "RS256"))
    with pytest.raises(jose.TokenInvalid, match="algorithm not allowed"):
        jose.verify(token, {key.kid: key}, narrowed, NOW)


def test_an_eddsa_header_on_another_algs_key_is_refused():
    ed = _rfc8037_key()
    ec_private = jose.generate_private_key("ES256")
    ec_jwk = jose.public_jwk(ec_private, "ES256")
    ec = jose.SigningKey(ec_jwk["kid"], "ES256", ec_private, ec_jwk)
    forged = jose.sign(_claims(), jose.SigningKey(ec.kid, "EdDSA", ed.private, ed.jwk))  # kid of the EC key
    with pytest.raises(jose.TokenInvalid, match="algorithm does not match the key"):
        jose.verify(forged, {ec.kid: ec}, jose.Expect(issuer=ISSUER, typ="jwt"), NOW)


@pytest.mark.parametrize(("alg", "hash_name"), [("RS256", "sha256"), ("ES256", "sha256"), ("EdDSA", "sha512")])
def test_at_hash_uses_the_algs_hash_sha512_for_eddsa(alg: str, hash_name: str):
    """OIDC Core §3.1.3.6: the left half of the hash; for EdDSA SHA-512 (docs/tokens.md, "ID tokens")."""
    value = "ktat_example-access-token"
    digest = hashlib.new(hash_name, value.encode()).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    assert jose.half_hash(value, alg) == expected
    assert len(expected) == (43 if alg == "EdDSA" else 22)
