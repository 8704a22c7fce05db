"""keyturn.rs: certificate-bound tokens (RFC 8705 §3) — verify_request with the request's client certificate."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from keyturn.core import jose
from keyturn.core.mtls import thumbprint
from keyturn.rs import InvalidAccessToken, TokenVerifier
from tests.certs import authority, issue
from tests.unit.rs.test_verify import API, ISSUER, NOW, Fetch, _token

CA = authority()
CERT, OTHER = issue(CA, "client-1"), issue(CA, "client-2")
URL = API + "/payments"


@pytest.fixture
def key() -> jose.SigningKey:
    private = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(private, "ES256")
    return jose.SigningKey(jwk["kid"], "ES256", private, jwk)


@pytest.fixture
def verifier(key: jose.SigningKey) -> TokenVerifier:
    from keyturn.rs import JWKSCache
    return TokenVerifier(issuer=ISSUER, audience=API, jwks=JWKSCache(ISSUER + "/jwks", fetch=Fetch(key.jwk)),
                         clock=lambda: NOW)


@pytest.mark.parametrize("form", ["certificate", "der", "pem", "escaped"])
async def test_a_bound_token_passes_with_its_certificate_in_every_form(verifier, key, form):
    token = _token(key, cnf={"x5t#S256": thumbprint(CERT.cert)})
    given = {"certificate": CERT.cert, "der": CERT.cert.public_bytes(Encoding.DER), "pem": CERT.pem,
             "escaped": CERT.escaped}[form]
    claims = await verifier.verify_request(f"Bearer {token}", method="GET", url=URL, client_certificate=given)
    assert claims["cnf"] == {"x5t#S256": thumbprint(CERT.cert)}


@pytest.mark.parametrize("given", [None, OTHER.cert, b"\x30\x00", b"-----BEGIN CERTIFICATE-----\nx\n", "garbage"])
async def test_a_bound_token_is_refused_without_its_certificate(verifier, key, given):
    token = _token(key, cnf={"x5t#S256": thumbprint(CERT.cert)})
    with pytest.raises(InvalidAccessToken, match="certificate-bound"):
        await verifier.verify_request(f"Bearer {token}", method="GET", url=URL, client_certificate=given)


async def test_an_unbound_token_ignores_the_certificate(verifier, key):
    token = _token(key)
    assert (await verifier.verify_request(f"Bearer {token}", method="GET", url=URL, client_certificate=CERT.cert))


async def test_a_malformed_binding_is_refused(verifier, key):
    token = _token(key, cnf={"x5t#S256": 7})
    with pytest.raises(InvalidAccessToken):
        await verifier.verify_request(f"Bearer {token}", method="GET", url=URL, client_certificate=CERT.cert)
