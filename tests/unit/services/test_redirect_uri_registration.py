"""services/redirects.py: what may be registered as a redirect URI (R05: OAuth 2.1 §2.3.1, RFC 9700 §2.6,
RFC 8252 §7.1)."""

from __future__ import annotations

from typing import Any

import pytest

from keyturn.core.errors import ApiError
from keyturn.services.redirects import validate_redirect_uri, validate_redirect_uris


@pytest.mark.parametrize(("uri", "why"), [
    ("", "non-empty string"),
    (" https://app.example/cb", "non-empty string"),
    ("https://app.example/" + "a" * 2000, "non-empty string"),
    ("https://app.example/c b", "spaces, control characters"),
    ("https://app.example/cb\x00", "spaces, control characters"),
    ("https://*.app.example/cb", "wildcards"),
    ("https://app.example\\@evil.example/cb", "backslashes"),
    ("/cb", "absolute"),
    ("javascript:alert(1)//", "forbidden scheme"),
    ("JavaScript:alert(1)", "forbidden scheme"),
    ("data:text/html,x", "forbidden scheme"),
    ("vbscript:msgbox", "forbidden scheme"),
    ("file:///etc/passwd", "forbidden scheme"),
    ("https:///cb", "needs a host"),
    ("http://app.example/cb", "http only for localhost"),
    ("myapp://cb", "reverse-domain name"),
    ("https://user@app.example/cb", "user information"),
    ("https://user:pw@app.example/cb", "user information"),
])
def test_a_dangerous_or_malformed_redirect_uri_is_refused(uri: str, why: str):
    with pytest.raises(ApiError) as err:
        validate_redirect_uri(uri)
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REDIRECT_URI")
    assert why in err.value.message


def test_a_list_of_strings_is_kept_in_order_without_repeats():
    uris = ["https://app.example/cb", "com.example.app:/cb", "https://app.example/cb"]
    assert validate_redirect_uris(uris) == ["https://app.example/cb", "com.example.app:/cb"]
    assert validate_redirect_uris(None) == []


@pytest.mark.parametrize("value", ["https://app.example/cb", [1], {"uri": "https://app.example/cb"}])
def test_anything_but_a_list_of_strings_is_refused(value: Any):
    with pytest.raises(ApiError, match="list of strings"):
        validate_redirect_uris(value)
