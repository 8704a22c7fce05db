"""Request parameters: urlencoded (RFC 6749 §3.1/§3.2, one rule for queries and forms) and flat JSON objects."""

from __future__ import annotations

import pytest

from keyturn.core.errors import InvalidRequest
from keyturn.web.params import Parameters, collect, decode, parse_form, parse_json


def test_form_and_json_bodies():
    assert parse_form(b"a=1+2&b=%C3%BC&c=") == {"a": "1 2", "b": "ü"}
    for bad in (b"a=1&a=2", b"a=%ff"):
        with pytest.raises(InvalidRequest):
            parse_form(bad)
    assert parse_json(b'{"a": "x", "n": 3, "z": null}') == {"a": "x", "n": "3"}
    for bad in (b'{"a": 1, "a": 2}', b'{"a": true}', b'{"a": {}}', b'{"a": "\\udc00"}', b"[]", b"{"):
        with pytest.raises(InvalidRequest):
            parse_json(bad)


def test_empty_value_counts_as_omitted_in_either_order():
    """RFC 6749 §3.1: a parameter without a value is omitted, so it makes no repeat."""
    assert collect([("state", "x"), ("state", "")]) == Parameters({"state": "x"}, ())
    assert collect([("state", ""), ("state", "x")]) == Parameters({"state": "x"}, ())
    assert collect([("state", "x"), ("state", "y"), ("scope", "")]) == Parameters({"state": "x"}, ("state",))


def test_a_repeated_parameter_keeps_its_first_value_and_is_reported_once_in_order():
    parsed = collect([("b", "1"), ("a", "1"), ("a", "2"), ("b", "2"), ("a", "3")])
    assert parsed == Parameters({"b": "1", "a": "1"}, ("a", "b"))
    with pytest.raises(InvalidRequest, match="parameter a is repeated"):
        parsed.unique()
    assert collect([("a", "1"), ("b", "")]).unique() == {"a": "1"}


def test_a_body_and_a_query_follow_the_same_rule():
    """The token endpoint's body and the authorization endpoint's query: a blank duplicate is no repeat."""
    assert parse_form(b"grant_type=&grant_type=client_credentials") == {"grant_type": "client_credentials"}
    assert collect(decode(b"state=&state=x&scope=a&scope=b")) == Parameters({"state": "x", "scope": "a"}, ("scope",))


def test_decoding_keeps_order_blanks_and_repeats():
    assert decode(b"") == []
    assert decode(b"a&&b=&=v&c=%2B+%26&d=%zz") == [("a", ""), ("b", ""), ("", "v"), ("c", "+ &"), ("d", "%zz")]
    for bad in (b"a=%ff", b"%c3%28=x", b"a=\xff\xfe"):
        with pytest.raises(InvalidRequest):
            decode(bad)


def test_too_many_fields_are_refused_counting_empty_ones():
    assert len(decode(b"&".join(b"p%d=1" % i for i in range(100)), max_fields=100)) == 100
    with pytest.raises(InvalidRequest):
        decode(b"&".join(b"p%d=1" % i for i in range(101)), max_fields=100)
    with pytest.raises(InvalidRequest):
        decode(b"a=1" + b"&" * 20, max_fields=20)
