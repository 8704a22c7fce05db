"""An Origin is matched (and so reflected) only in the form a browser serialises it (RFC 6454 §6.2)."""

from __future__ import annotations

import pytest

from keyturn.core.origins import origin_allowed, parse_patterns, split_origin

PATTERNS = parse_patterns("*.localhost.* www.shop.example")


@pytest.mark.parametrize("origin", ["HTTP://LOCALHOST:8080", "http://localhost:8080/", "https://WWW.shop.example",
                                    "https://www.shop.example:443", "http://localhost:08080", "https://www.shop.example/"])
def test_a_non_serialised_origin_never_matches(origin):
    assert split_origin(origin) is None
    assert not origin_allowed(origin, PATTERNS)


@pytest.mark.parametrize("origin", ["http://localhost:8080", "https://www.shop.example", "http://app.localhost:3000"])
def test_the_serialised_origin_matches(origin):
    assert split_origin(origin) is not None
    assert origin_allowed(origin, PATTERNS)
