"""Client certificates (RFC 8705) as a TLS-terminating proxy forwards them: parsing and comparing.

Keyturn does not terminate TLS for mTLS: the proxy in front of it verifies the client's certificate chain
(nginx ``ssl_verify_client on`` + ``ssl_client_certificate``) and forwards the certificate in a header
(``KEYTURN_MTLS_CERT_HEADER``). Two forms are read: a URL-encoded PEM (nginx ``$ssl_client_escaped_cert``;
a plain PEM too) and base64 DER (what some proxies, e.g. Envoy's or AWS ALB's, send). Parsing is
``cryptography.x509``'s; anything it refuses is no certificate.

Subject DNs (``tls_client_auth_subject_dn``, RFC 8705 §2.1.2) are compared in the RFC 4514 string form
``cryptography`` writes (``Name.rfc4514_string()``): the registered DN is parsed
(``Name.from_rfc4514_string``) and written again, the certificate's subject written, and the two strings
must be equal: same attributes, same order (most specific first, as RFC 4514 writes them), same values
(case-sensitive; escaping is normalised by the round trip).

Self-signed certificates (``self_signed_tls_client_auth``, RFC 8705 §2.2) are registered in the client's JWK
Set: the first element of a key's ``x5c`` (RFC 7517 §4.7: base64 DER, not base64url). A presented certificate
matches when its whole DER is one of them (SHA-256 digests compared with ``hmac.compare_digest``), never by
its subject, which anyone can copy into a certificate of their own. A registered certificate counts only when
its public key is the JWK's own key: a JWK Set whose ``x5c`` disagrees with its key names no certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")  # RFC 8705 §2.1, §2.2: no secret, a certificate
VERIFIED = "SUCCESS"  # the proxy's verification result for a certificate whose chain it verified (nginx)
MAX_HEADER = 16384  # a forwarded certificate longer than this is refused (no certificate)
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


def parse_certificate(value: str) -> x509.Certificate | None:
    """The certificate a proxy forwarded (URL-encoded PEM, PEM or base64 DER), or None if ``value`` is none."""
    value = value.strip()
    if not value or len(value) > MAX_HEADER:
        return None
    try:
        if "%" in value or value.startswith("-----"):
            pem = unquote(value) if "%" in value else value
            if not pem.startswith(PEM_BEGIN):
                return None
            return x509.load_pem_x509_certificate(pem.encode("ascii"))
        return x509.load_der_x509_certificate(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None


def thumbprint(cert: x509.Certificate) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: base64url (no padding) of the SHA-256 of the certificate's DER."""
    der = cert.public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def normalise_dn(dn: str) -> str:
    """The RFC 4514 string form of ``dn`` as cryptography writes it; ValueError if it is not a DN."""
    name = x509.Name.from_rfc4514_string(dn)
    if not list(name):
        raise ValueError("empty distinguished name")
    return name.rfc4514_string()


def subject_matches(cert: x509.Certificate, registered_dn: str) -> bool:
    """RFC 8705 §2.1.2: the certificate's subject is the registered DN (compared as the module says)."""
    try:
        expected = normalise_dn(registered_dn)
    except ValueError:
        return False
    return hmac.compare_digest(cert.subject.rfc4514_string().encode(), expected.encode())



class BadX5c(ValueError):
    """A JWK's ``x5c`` is not a certificate of that key (the message says why, fit for an error answer)."""


def x5c_certificate(jwk: dict[str, Any]) -> bytes | None:
    """The DER of the first certificate of ``jwk``'s ``x5c`` (RFC 7517 §4.7), None if it has none; raises
    :class:`BadX5c` when ``x5c`` is not a list of base64 DER certificates or the first one's public key is not
    the JWK's own key (RFC 7517 §4.7: "MUST match the public key represented by other members of the JWK")."""
    chain = jwk.get("x5c")
    if chain is None:
        return None
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) and c for c in chain):
        raise BadX5c("x5c must be a non-empty list of base64 DER certificates")
    if len(chain[0]) > MAX_HEADER:
        raise BadX5c("the x5c certificate is too long")
    try:
        der = base64.b64decode(chain[0], validate=True)
        cert = x509.load_der_x509_certificate(der)
        key = jwt.PyJWK(jwk).key
        ours = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        theirs = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, binascii.Error, TypeError, KeyError, AttributeError, jwt.PyJWKError, jwt.InvalidKeyError):
        raise BadX5c("the first x5c element is not a DER certificate of this key") from None
    if ours != theirs:  # public values, compared whole
        raise BadX5c("the x5c certificate's public key is not the key of its JWK")
    return der


def registered_certificates(jwks: Any) -> list[bytes]:
    """The DER of every certificate a client registered in its JWK Set (``jwks``, inline or fetched): the first
    ``x5c`` element of each key whose certificate is of that key. Keys without ``x5c`` or with a bad one count
    for nothing (registration refuses the bad ones; a fetched set is read as it is)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    found: list[bytes] = []
    for jwk in keys if isinstance(keys, list) else ():
        if not isinstance(jwk, dict):
            continue
        try:
            der = x5c_certificate(jwk)
        except BadX5c:
            continue
        if der is not None:
            found.append(der)
    return found


def certificate_registered(cert: x509.Certificate, jwks: Any) -> bool:
    """RFC 8705 §2.2: the presented certificate is, byte for byte, one the client registered in ``jwks``. Every
    registered certificate is compared (``hmac.compare_digest`` of SHA-256 digests), none skipped."""
    presented = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    match = False
    for der in registered_certificates(jwks):
        match = hmac.compare_digest(presented, hashlib.sha256(der).digest()) or match
    return match
