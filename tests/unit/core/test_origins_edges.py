"""core/origins.py edges: a written scheme is the only one allowed, and bad input never matches or raises."""

from __future__ import annotations

import pytest

from keyturn.core.origins import PatternError, origin_allowed, parse_pattern, parse_patterns, split_origin


def test_a_written_scheme_is_the_only_scheme_allowed():
    pats = parse_patterns("http://a.example:8080 https://b.example")
    assert origin_allowed("http://a.example:8080", pats)
    assert not origin_allowed("https://a.example:8080", pats)
    assert origin_allowed("https://b.example", pats)
    assert not origin_allowed("http://b.example", pats)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_pattern_is_refused(text):
    with pytest.raises(PatternError, match="empty"):
        parse_pattern(text)
    assert parse_patterns(text.strip()) == ()  # an empty domain field allows no origin


def test_a_domain_field_is_bounded():
    with pytest.raises(PatternError, match="too long"):
        parse_patterns(" ".join(["shop.example"] * 200))


@pytest.mark.parametrize("origin", ["http://a.example:99999", "http://[::1", "https://a.example:x",
                                    "https://a.example?x=1", "https://a.example#top", "https://u:p@a.example",
                                    "https://u@a.example"])
def test_what_is_not_a_serialised_origin_is_not_an_origin(origin):
    """RFC 6454 §6.2: an Origin is scheme, host and port; a query, fragment or user information is not one."""
    assert split_origin(origin) is None
    assert not origin_allowed(origin, parse_patterns("a.example:* [::1]:*"))
