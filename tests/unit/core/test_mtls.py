"""keyturn.core.mtls: the forms a proxy forwards a client certificate in, the thumbprint, the DN rule."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from keyturn.core.jose import same_thumbprint
from keyturn.core.mtls import normalise_dn, parse_certificate, subject_matches, thumbprint
from tests.certs import authority, issue

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
