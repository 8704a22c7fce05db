"""keyturn.web.mtls: the forwarded certificate is read only from a trusted proxy, only when mTLS is on."""

from __future__ import annotations

from typing import Any

from keyturn.settings import Settings
from keyturn.web.mtls import CERT_KEY, forwarded_certificate, proxy_verified
from tests.certs import authority, issue

CERT = issue(authority(), "client-1")
ON = Settings(environment="development", issuer="http://keyturn.test", mtls_cert_header="X-SSL-Client-Cert",
              trusted_proxies=("10.0.0.0/8",))


def scope(peer: str | None, *values: str) -> dict[str, Any]:
    return {"type": "http", "client": (peer, 1234) if peer else None,
            "headers": [(b"x-ssl-client-cert", v.encode()) for v in values]}


def test_from_a_trusted_proxy_the_certificate_is_read_once():
    s = scope("10.1.2.3", CERT.escaped)
    found = forwarded_certificate(s, ON)
    assert found is not None and found.subject == CERT.cert.subject
    s["headers"] = []
    assert forwarded_certificate(s, ON) is found and s[CERT_KEY] is found  # kept in the scope


def test_ignored_from_anyone_else_when_off_twice_or_without_a_peer():
    assert forwarded_certificate(scope("198.51.100.7", CERT.escaped), ON) is None
    assert forwarded_certificate(scope(None, CERT.escaped), ON) is None
    assert forwarded_certificate(scope("10.1.2.3", CERT.escaped, CERT.escaped), ON) is None
    off = Settings(environment="development", issuer="http://keyturn.test", trusted_proxies=("10.0.0.0/8",))
    assert forwarded_certificate(scope("10.1.2.3", CERT.escaped), off) is None


def test_the_header_needs_trusted_proxies():
    import pytest
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(environment="development", issuer="http://keyturn.test", mtls_cert_header="X-SSL-Client-Cert")


VERIFYING = Settings(environment="development", issuer="http://keyturn.test", mtls_cert_header="X-SSL-Client-Cert",
                     mtls_verify_header="X-SSL-Client-Verify", trusted_proxies=("10.0.0.0/8",))


def verify_scope(peer: str, *values: str) -> dict[str, Any]:
    return {"type": "http", "client": (peer, 1234), "headers": [(b"x-ssl-client-verify", v.encode()) for v in values]}


def test_the_proxys_verification_result_is_read_from_a_trusted_proxy_only():
    assert proxy_verified(verify_scope("10.1.2.3", "SUCCESS"), VERIFYING)
    for refused in (verify_scope("10.1.2.3", "FAILED:self-signed certificate"), verify_scope("10.1.2.3", "NONE"),
                    verify_scope("10.1.2.3"), verify_scope("10.1.2.3", "SUCCESS", "SUCCESS"),
                    verify_scope("10.1.2.3", "success"), verify_scope("198.51.100.7", "SUCCESS")):
        assert not proxy_verified(refused, VERIFYING)
    assert proxy_verified(verify_scope("198.51.100.7"), ON)  # without the setting the proxy verifies everything


def test_the_verify_header_needs_the_certificate_header():
    import pytest
    with pytest.raises(ValueError, match="mtls_cert_header"):
        Settings(environment="development", issuer="http://keyturn.test", mtls_verify_header="X-SSL-Client-Verify",
                 trusted_proxies=("10.0.0.0/8",))
