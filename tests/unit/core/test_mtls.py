"""keyturn.core.mtls: the forms a proxy forwards a client certificate in, the thumbprint, the DN rule."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from keyturn.core.jose import same_thumbprint
from keyturn.core.mtls import (
    BadX5c,
    certificate_registered,
    normalise_dn,
    parse_certificate,
    registered_certificates,
    subject_matches,
    thumbprint,
    x5c_certificate,
)
from tests.certs import authority, issue, self_signed

CA = authority()
CERT = issue(CA, "client-1")


def test_url_encoded_pem_plain_pem_and_base64_der_are_read():
    der = CERT.cert.public_bytes(Encoding.DER)
    for value in (CERT.escaped, CERT.pem.decode(), base64.b64encode(der).decode(), f"  {CERT.escaped}\n"):
        found = parse_certificate(value)
        assert found is not None and found.public_bytes(Encoding.DER) == der


@pytest.mark.parametrize("value", ["", "   ", "x" * 20000, "%41%42", "-----BEGIN PRIVATE KEY-----\nx",
                                   "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----",
                                   "not*base64", base64.b64encode(b"not der").decode(), "%E2%82", "caf\u00e9%20"])
def test_anything_else_is_no_certificate(value):
    assert parse_certificate(value) is None


def test_thumbprint_is_base64url_sha256_of_the_der():
    der = CERT.cert.public_bytes(Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert thumbprint(CERT.cert) == expected and len(expected) == 43
    assert same_thumbprint(expected, expected) and not same_thumbprint(None, expected)
    assert not same_thumbprint(expected[:-1] + "A" if expected[-1] != "A" else expected[:-1] + "B", expected)


def test_subject_dn_rule():
    assert normalise_dn("CN=client\\2d1,O=Keyturn Tests,C=NZ") == "CN=client-1,O=Keyturn Tests,C=NZ"
    assert subject_matches(CERT.cert, "CN=client-1,O=Keyturn Tests,C=NZ")
    assert subject_matches(CERT.cert, "2.5.4.3=client-1,O=Keyturn Tests,C=NZ")  # an OID is its short name
    assert not subject_matches(CERT.cert, "C=NZ,O=Keyturn Tests,CN=client-1")  # order matters (RFC 4514)
    assert not subject_matches(CERT.cert, "CN=CLIENT-1,O=Keyturn Tests,C=NZ")  # values are case-sensitive
    assert not subject_matches(CERT.cert, "CN=client-1")
    assert not subject_matches(CERT.cert, "cn=client-1,o=Keyturn Tests,c=NZ")  # not a DN cryptography reads
    for bad in ("", "not a dn"):
        with pytest.raises(ValueError):
            normalise_dn(bad)


# self_signed_tls_client_auth (RFC 8705 §2.2): the whole certificate, registered as an x5c of the client's JWKS
SELF = self_signed("client-1")


def test_a_registered_self_signed_certificate_matches_byte_for_byte():
    jwks = {"keys": [SELF.jwk("a")]}
    assert certificate_registered(SELF.cert, jwks)
    assert registered_certificates(jwks) == [SELF.cert.public_bytes(Encoding.DER)]


def test_another_certificate_with_the_same_subject_does_not_match():
    twin = self_signed("client-1")  # same DN, another key and certificate
    assert twin.cert.subject == SELF.cert.subject
    assert not certificate_registered(twin.cert, {"keys": [SELF.jwk()]})
    reissued = issue(CA, "client-1")  # a CA's certificate with the DN: still not the registered one
    assert not certificate_registered(reissued.cert, {"keys": [SELF.jwk()]})


def test_a_certificate_whose_key_is_not_the_jwks_key_counts_for_nothing():
    other = self_signed("client-2")
    jwk = {**other.jwk(), "x5c": [SELF.der_b64]}  # SELF's certificate on other's key
    assert not certificate_registered(SELF.cert, {"keys": [jwk]})
    with pytest.raises(BadX5c, match="not the key of its JWK"):
        x5c_certificate(jwk)


@pytest.mark.parametrize("x5c", [[], "MIIB", [""], [123], ["not base64!"], [base64.b64encode(b"not der").decode()],
                                 ["A" * 20000]])
def test_a_malformed_x5c_counts_for_nothing(x5c):
    jwk = {**SELF.jwk(), "x5c": x5c}
    with pytest.raises(BadX5c):
        x5c_certificate(jwk)
    assert not certificate_registered(SELF.cert, {"keys": [jwk]})


def test_keys_without_x5c_and_no_jwks_name_no_certificate():
    assert x5c_certificate(SELF.jwk(x5c=False)) is None
    cases: list[Any] = [{"keys": [SELF.jwk(x5c=False)]}, None, {}, {"keys": "x"}, {"keys": ["x", 1]}, []]
    for jwks in cases:
        assert registered_certificates(jwks) == []
        assert not certificate_registered(SELF.cert, jwks)


def test_among_several_keys_each_certificate_matches():
    second = self_signed("client-1-next")  # a rotation: two certificates registered at once
    jwks = {"keys": [{**CERT.jwk(), "x5c": ["broken"]}, SELF.jwk("old"), second.jwk("new", x5c=True),
                     self_signed("x").jwk(x5c=False)]}
    assert certificate_registered(SELF.cert, jwks) and certificate_registered(second.cert, jwks)
    assert not certificate_registered(CERT.cert, jwks)
    assert len(registered_certificates(jwks)) == 2


def test_a_chain_counts_by_its_first_element():
    jwks = {"keys": [{**CERT.jwk(), "x5c": [CERT.der_b64, base64.b64encode(CA.cert.public_bytes(Encoding.DER))
                                             .decode()]}]}
    assert certificate_registered(CERT.cert, jwks) and not certificate_registered(CA.cert, jwks)
