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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

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

