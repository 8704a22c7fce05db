"""Credential `domain` patterns (docs/domain-patterns.md): R54 and the seed's three patterns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyturn.core.origins import PatternError, origin_allowed, parse_patterns

SEED = ".*tropipay.com.* www.my.app.cu *.localhost.*"


@pytest.mark.parametrize("pattern", ["*", "*.com", "*example.com", "*.*", "ex*ample.com", "a..b", ".", "ftp://x.com",
                                     "x.com:99999", "x.com/path", "*.", "ex_ample.com"])
def test_over_broad_or_malformed_patterns_are_refused(pattern):
    with pytest.raises(PatternError):
        parse_patterns(pattern)


def test_wildcard_is_anchored_at_a_label_boundary():
    pats = parse_patterns("*.merchant.example")
    assert origin_allowed("https://pay.merchant.example", pats)
    assert origin_allowed("https://merchant.example", pats)
    for origin in ("https://merchant.example.evil.test", "https://evilmerchant.example", "http://pay.merchant.example",
                   "https://pay.merchant.example.", "null", "", "https://pay.merchant.example/x?y"):
        assert not origin_allowed(origin, pats), origin


def test_the_seeds_patterns_mean_what_their_author_meant():
    pats = parse_patterns(SEED)
    for ok in ("https://tropipay.com", "https://www.tropipay.com", "https://business.tropipay.com:3000",
               "https://www.my.app.cu", "http://localhost:8080", "http://app.localhost", "https://localhost"):
        assert origin_allowed(ok, pats), ok
    for no in ("https://tropipay.com.evil.test", "https://nottropipay.com", "https://my.app.cu",
               "https://www.my.app.cu:8443", "http://www.my.app.cu", "http://localhost.evil.test"):
        assert not origin_allowed(no, pats), no


def test_ports_and_schemes():
    assert origin_allowed("https://a.example", parse_patterns("a.example:443"))
    assert origin_allowed("http://a.example:8080", parse_patterns("http://a.example:8080"))
    assert not origin_allowed("http://a.example:8081", parse_patterns("http://a.example:8080"))
    assert origin_allowed("https://a.example:1", parse_patterns("a.example:*"))


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)


@given(base=st.lists(LABEL, min_size=2, max_size=3).map(".".join), other=st.lists(LABEL, min_size=1, max_size=4))
def test_a_wildcard_never_matches_outside_its_domain(base, other):
    pats = parse_patterns("*." + base)
    host = ".".join(other)
    allowed = origin_allowed(f"https://{host}", pats)
    assert allowed == (host == base or host.endswith("." + base))
    assert not origin_allowed(f"https://{base}.{host}", pats) or (f"{base}.{host}").endswith("." + base)
    assert not origin_allowed(f"https://x{base}", pats)


@given(st.text(max_size=300))
def test_matching_never_raises_on_any_origin(origin):
    assert origin_allowed(origin, parse_patterns(SEED)) in (True, False)
