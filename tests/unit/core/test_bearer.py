"""core/bearer.py: the one reading of an Authorization header carrying an access token."""

from __future__ import annotations

from keyturn.core.bearer import bearer_token


def test_one_reading_of_a_bearer_header():
    """RFC 6750 §2.1; seed 001's curl sends the token without the prefix (Keyturn's API and keyturn.rs accept it)."""
    assert bearer_token("Bearer abc", prefix_optional=False) == "abc"
    assert bearer_token("bearer  abc ", prefix_optional=False) == "abc"
    assert bearer_token("abc", prefix_optional=False) is None
    assert bearer_token("abc", prefix_optional=True) == "abc"
    for bad in ("", "Bearer ", "Bearer a b", "Basic abc def"):
        assert bearer_token(bad, prefix_optional=True) is None, bad


def test_access_token_reads_the_dpop_scheme_too() -> None:
    from keyturn.core.bearer import access_token
    assert access_token("DPoP abc", prefix_optional=False) == ("dpop", "abc")
    assert access_token("dpop  abc ", prefix_optional=True) == ("dpop", "abc")
    assert access_token("Bearer abc", prefix_optional=False) == ("bearer", "abc")
    assert access_token("abc", prefix_optional=True) == ("bearer", "abc")
    assert access_token("abc", prefix_optional=False) is None
    assert access_token("DPoP a b", prefix_optional=True) is None
    assert access_token("DPoP ", prefix_optional=True) is None
