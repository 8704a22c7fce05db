"""Server-generated secrets: long, compared only as digests, redacted in logs."""

from __future__ import annotations

from keyturn.core.secrets import digest, new_client_secret, redact, same_digest


def test_secrets_are_long_and_only_digests_compare():
    s = new_client_secret()
    assert len(s) >= 40 and same_digest(s, digest(s)) and not same_digest(s + "x", digest(s))
    assert s not in redact(s)
