"""The one client-address function (keyturn.web.server.address): computed once per request, from the scope."""

from __future__ import annotations

from typing import Any

from keyturn.web.server.address import ADDRESS_KEY, client_address

TRUSTED = ("10.0.0.0/8",)


def _scope(peer: tuple[str, int] | None, *forwarded: bytes) -> dict[str, Any]:
    return {"type": "http", "client": peer, "headers": [(b"x-forwarded-for", v) for v in forwarded]}


def test_without_trusted_proxies_the_peer_is_the_client_and_no_header_is_read():
    scope = _scope(("10.0.0.5", 1), b"203.0.113.7")
    assert client_address(scope, ()) == "10.0.0.5"


def test_a_trusted_peer_forwards_and_every_header_line_counts():
    assert client_address(_scope(("10.0.0.5", 1), b"6.6.6.6", b"203.0.113.7"), TRUSTED) == "203.0.113.7"
    assert client_address(_scope(("10.0.0.5", 1), b"\xff\xfe"), TRUSTED) == "10.0.0.5"  # not an address: the peer


def test_no_peer_is_no_address():
    assert client_address(_scope(None, b"203.0.113.7"), TRUSTED) is None
    assert client_address({"type": "http"}, ()) is None


def test_it_is_computed_once_per_request():
    scope = _scope(("10.0.0.5", 1), b"203.0.113.7")
    assert client_address(scope, TRUSTED) == "203.0.113.7"
    assert scope[ADDRESS_KEY] == "203.0.113.7"
    scope["headers"] = []
    assert client_address(scope, TRUSTED) == "203.0.113.7"
