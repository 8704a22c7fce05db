"""Scope strings (RFC 6749 §3.3): parsed into a set of tokens, narrowed to what was granted."""

from __future__ import annotations

import pytest

from keyturn.core.errors import InvalidScope
from keyturn.core.scopes import narrow, parse_scope


def test_scopes():
    assert parse_scope("a  b a") == ("a", "b")
    assert narrow((), ("a", "b")) == ("a", "b")
    with pytest.raises(InvalidScope):
        narrow(("c",), ("a",))
    for bad in ('a"', "a\\", "\x7f", "é"):
        with pytest.raises(InvalidScope):
            parse_scope(bad)


def test_one_reading_of_a_bearer_header():
    """RFC 6750 §2.1; seed 001's curl sends the token without the prefix (Keyturn's API and keyturn.rs accept it)."""
    from keyturn.core.bearer import bearer_token

    assert bearer_token("Bearer abc", prefix_optional=False) == "abc"
    assert bearer_token("bearer  abc ", prefix_optional=False) == "abc"
    assert bearer_token("abc", prefix_optional=False) is None
    assert bearer_token("abc", prefix_optional=True) == "abc"
    for bad in ("", "Bearer ", "Bearer a b", "Basic abc def"):
        assert bearer_token(bad, prefix_optional=True) is None, bad
