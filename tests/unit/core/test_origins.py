"""Credential `domain` patterns (docs/domain-patterns.md): R54 and the seed's three patterns."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from keyturn.core.origins import MAX_HOST, MAX_LABEL, PatternError, is_public_suffix, origin_allowed, parse_patterns

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
    assume(not is_public_suffix(base))
    pats = parse_patterns("*." + base)
    host = ".".join(other)
    allowed = origin_allowed(f"https://{host}", pats)
    assert allowed == (host == base or host.endswith("." + base))
    assert not origin_allowed(f"https://{base}.{host}", pats) or (f"{base}.{host}").endswith("." + base)
    assert not origin_allowed(f"https://x{base}", pats)


@given(st.text(max_size=300))
def test_matching_never_raises_on_any_origin(origin):
    assert origin_allowed(origin, parse_patterns(SEED)) in (True, False)


@pytest.mark.parametrize("pattern", ["*.co.uk", ".*co.uk", "*.com.au", "*.co.uk.*", "https://*.co.uk:*", "*.github.io",
                                     "*.kawasaki.jp", "*.x.kawasaki.jp", "*.gov.uk", "*.CO.UK"])
def test_a_wildcard_over_a_public_suffix_is_refused(pattern):
    with pytest.raises(PatternError, match="public suffix"):
        parse_patterns(pattern)


@pytest.mark.parametrize("pattern", ["*.example.co.uk", "*.shop.com.au", "*.me.github.io", "*.city.kawasaki.jp",
                                     "co.uk", "*.keyturn.test"])
def test_a_wildcard_under_a_registrable_domain_and_an_exact_host_are_accepted(pattern):
    assert parse_patterns(pattern)


@pytest.mark.parametrize("pattern", ["*.127.0.0.1", ".*10.0.0.1.*", "*.[::1]"])
def test_a_wildcard_over_an_ip_address_is_refused(pattern):
    with pytest.raises(PatternError):
        parse_patterns(pattern)


def test_a_label_over_63_characters_is_refused():
    ok = "a" * MAX_LABEL + ".example"
    assert origin_allowed(f"https://{ok}", parse_patterns(ok))
    for pattern in ("a" * (MAX_LABEL + 1) + ".example", "*." + "b" * (MAX_LABEL + 1) + ".example",
                    "shop." + "c" * (MAX_LABEL + 1)):
        with pytest.raises(PatternError, match="label"):
            parse_patterns(pattern)


def test_a_host_over_253_characters_is_refused():
    host = ".".join(["a" * 61] * 4) + ".example"  # 4 * 62 + 7 = 255 characters
    assert len(host) > MAX_HOST
    with pytest.raises(PatternError, match="at most 253"):
        parse_patterns(host)
    fits = ".".join(["a" * 61] * 3) + ".example"
    assert parse_patterns("*." + fits)


def test_localhost_wildcard_and_loopback_still_work():
    pats = parse_patterns("*.localhost.* 127.0.0.1:* [::1]:*")
    for ok in ("http://localhost:3000", "http://shop.localhost:5173", "http://127.0.0.1:8080", "http://[::1]:9000"):
        assert origin_allowed(ok, pats), ok


def test_the_public_suffix_list_is_the_bundled_one_and_never_fetched(monkeypatch):
    import socket
    import urllib.request

    from keyturn.core import origins

    def no_network(*a, **k):
        raise AssertionError("the public suffix list must not be fetched at run time")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    origins._psl.cache_clear()
    with pytest.raises(PatternError):
        parse_patterns("*.co.uk")
    assert is_public_suffix("com") and not is_public_suffix("tropipay.com")


@given(label=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=80),
       tld=st.sampled_from(["com", "co.uk", "com.au", "cu", "localhost"]))
def test_label_length_decides_acceptance(label, tld):
    pattern = f"{label}.{tld}"
    if len(label) > MAX_LABEL:
        with pytest.raises(PatternError):
            parse_patterns(pattern)
    else:
        assert parse_patterns(pattern)[0].host == pattern
