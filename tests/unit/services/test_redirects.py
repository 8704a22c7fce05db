"""Redirect URI registration and matching (services/redirects.py): R01, R05, R06; RFC 8252 §7.3."""

from __future__ import annotations

import pytest

from keyturn.core.errors import ApiError
from keyturn.services.redirects import redirect_uri_matches, validate_redirect_uri

REGISTERED = ("http://127.0.0.1/cb", "http://[::1]:8080/x?a=1", "https://app.example.test/cb",
              "com.example.app:/oidc-callback")


@pytest.mark.parametrize("requested", [
    "http://127.0.0.1/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1:51234/cb", "http://127.0.0.1:65535/cb",
    "http://[::1]:8080/x?a=1", "http://[::1]/x?a=1", "http://[::1]:9/x?a=1",
    "https://app.example.test/cb", "com.example.app:/oidc-callback"])
def test_registered_uri_or_loopback_with_another_real_port_matches(requested):
    assert redirect_uri_matches(requested, REGISTERED)


@pytest.mark.parametrize("requested", [
    # a fragment, even an empty one (urlsplit drops it), on loopback and elsewhere
    "http://127.0.0.1:51234/cb#", "http://127.0.0.1:51234/cb#x", "http://127.0.0.1/cb#", "http://[::1]:9/x?a=1#",
    "https://app.example.test/cb#", "https://app.example.test/cb#x", "com.example.app:/oidc-callback#",
    # ports that are not real, or not written canonically
    "http://127.0.0.1:0/cb", "http://127.0.0.1:65536/cb", "http://127.0.0.1:99999999/cb", "http://127.0.0.1:080/cb",
    "http://127.0.0.1:+80/cb", "http://127.0.0.1:/cb", "http://127.0.0.1: 80/cb", "http://127.0.0.1:８０/cb",
    "http://[::1]:0/x?a=1",
    # anything but the port differs
    "http://127.0.0.1:51234/cb?x=1", "http://127.0.0.1:51234/cb?", "http://127.0.0.1:51234/cb/", "http://127.0.0.1:51234//cb",
    "http://[::1]:9/x?a=1&", "http://[::1]:9/x?a=2", "http://[::1]:9/x", "http://localhost:51234/cb",
    "http://localhost/cb", "http://127.0.0.1.evil.example/cb", "http://127.0.0.1:51234@evil.example/cb",
    "http://127.0.0.2:51234/cb", "https://127.0.0.1:51234/cb", "HTTP://127.0.0.1:51234/cb",
    # no port variation off loopback
    "https://app.example.test:443/cb", "https://app.example.test:8443/cb"])
def test_fragment_unreal_port_or_any_other_difference_does_not_match(requested):
    assert not redirect_uri_matches(requested, REGISTERED)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:0/cb", "https://app.example.test:0/cb", "http://[::1]:0/cb", "https://app.example.test:0443/cb",
    "http://127.0.0.1:65536/cb", "https://app.example.test/cb#", "https://app.example.test/cb#x",
    "http://127.0.0.1:x/cb"])
def test_registration_refuses_port_zero_out_of_range_or_fragment(uri):
    with pytest.raises(ApiError) as exc:
        validate_redirect_uri(uri)
    assert exc.value.code == "INVALID_REDIRECT_URI"


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/cb", "https://app.example.test:8443/cb",
                                 "http://[::1]/cb", "com.example.app://oidc-callback"])
def test_registration_accepts_real_ports(uri):
    assert validate_redirect_uri(uri) == uri
