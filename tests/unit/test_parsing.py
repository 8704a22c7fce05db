"""Pure parsers: scopes (RFC 6749 §3.3), durations, form/JSON bodies, secrets, the failure counter."""

from __future__ import annotations

import pytest

from keyturn.core.durations import parse_duration
from keyturn.core.errors import InvalidRequest, InvalidScope
from keyturn.core.scopes import narrow, parse_scope
from keyturn.core.secrets import digest, new_client_secret, redact, same_digest
from keyturn.services.limits import FailureCounter
from keyturn.web.params import parse_form, parse_json


def test_scopes():
    assert parse_scope("a  b a") == ("a", "b")
    assert narrow((), ("a", "b")) == ("a", "b")
    with pytest.raises(InvalidScope):
        narrow(("c",), ("a",))
    for bad in ('a"', "a\\", "\x7f", "é"):
        with pytest.raises(InvalidScope):
            parse_scope(bad)


def test_durations():
    assert parse_duration("1d") == 86400 and parse_duration("12h") == 43200 and parse_duration("none") is None
    for bad in ("1y", "d", "-1d", "1000w", "１d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_form_and_json_bodies():
    assert parse_form(b"a=1+2&b=%C3%BC&c=") == {"a": "1 2", "b": "ü"}
    for bad in (b"a=1&a=2", b"a=%ff"):
        with pytest.raises(InvalidRequest):
            parse_form(bad)
    assert parse_json(b'{"a": "x", "n": 3, "z": null}') == {"a": "x", "n": "3"}
    for bad in (b'{"a": 1, "a": 2}', b'{"a": true}', b'{"a": {}}', b'{"a": "\\udc00"}', b"[]", b"{"):
        with pytest.raises(InvalidRequest):
            parse_json(bad)


def test_secrets_are_long_and_only_digests_compare():
    s = new_client_secret()
    assert len(s) >= 40 and same_digest(s, digest(s)) and not same_digest(s + "x", digest(s))
    assert s not in redact(s)


def test_failure_counter_window_and_memory_bound():
    c = FailureCounter(limit=3)
    for t in range(3):
        c.fail("k", float(t))
    assert c.blocked("k", 3.0) is not None and c.blocked("other", 3.0) is None
    assert c.blocked("k", 61.0) is None
    for i in range(60000):
        c.fail(f"spray{i}", 100.0)
    assert len(c._fails) <= 50000
