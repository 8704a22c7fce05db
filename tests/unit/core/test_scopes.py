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

