"""Test certificates made with ``cryptography``: a CA, a server certificate and client certificates (RFC 8705 tests)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def escaped(self) -> str:
        """As nginx's ``$ssl_client_escaped_cert`` forwards it: the PEM, URL-encoded."""
        return quote(self.pem.decode(), safe="")

    @property
    def der_b64(self) -> str:
        """The certificate as an ``x5c`` element holds it (RFC 7517 §4.7: base64 DER)."""
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    def jwk(self, kid: str | None = None, *, x5c: bool = True) -> dict[str, Any]:
        """The public JWK of this certificate's key, with the certificate as its ``x5c`` (RFC 8705 §2.2)."""
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        if kid is not None:
            jwk["kid"] = kid
        if x5c:
            jwk["x5c"] = [self.der_b64]
        return jwk

    def write(self, directory: Path, name: str) -> tuple[str, str]:
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(self.pem)
        key.write_bytes(self.key_pem)
        return str(cert), str(key)


def name(cn: str, org: str = "Keyturn Tests") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "NZ"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          signer: ec.EllipticCurvePrivateKey, *, ca: bool = False, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def authority(cn: str = "Keyturn Test CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    return Issued(_cert(name(cn), key, name(cn), key, ca=True), key)


def issue(ca: Issued, cn: str, *, server: bool = False, org: str = "Keyturn Tests") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    return Issued(_cert(name(cn, org), key, ca.cert.subject, ca.key, server=server), key)


def self_signed(cn: str) -> Issued:
    return authority(cn)
