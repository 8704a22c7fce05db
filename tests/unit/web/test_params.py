"""Request bodies: form (RFC 6749 §3.2, no repeated parameters) and flat JSON objects."""

from __future__ import annotations

import pytest

from keyturn.core.errors import InvalidRequest
from keyturn.web.params import parse_form, parse_json


def test_form_and_json_bodies():
    assert parse_form(b"a=1+2&b=%C3%BC&c=") == {"a": "1 2", "b": "ü"}
    for bad in (b"a=1&a=2", b"a=%ff"):
        with pytest.raises(InvalidRequest):
            parse_form(bad)
    assert parse_json(b'{"a": "x", "n": 3, "z": null}') == {"a": "x", "n": "3"}
    for bad in (b'{"a": 1, "a": 2}', b'{"a": true}', b'{"a": {}}', b'{"a": "\\udc00"}', b"[]", b"{"):
        with pytest.raises(InvalidRequest):
            parse_json(bad)
