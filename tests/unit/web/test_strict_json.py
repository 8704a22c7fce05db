"""web/routing.py: the management API's JSON bodies refuse repeated member names (RFC 8259 §4) and are read once."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message

from keyturn.web.routing import StrictJSONRequest


def _request(body: bytes) -> tuple[StrictJSONRequest, list[int]]:
    reads: list[int] = []

    async def receive() -> Message:
        reads.append(1)
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/api/accounts", "headers": [], "query_string": b""}
    return StrictJSONRequest(scope, receive), reads


async def test_the_body_is_parsed_once():
    request, reads = _request(b'{"name": "Shop", "type": "org"}')
    first = await request.json()
    assert first == {"name": "Shop", "type": "org"}
    assert await request.json() is first and len(reads) == 1


async def test_a_repeated_member_is_malformed_json():
    """Two readers could keep different values of ``role``: refused, as FastAPI refuses bad JSON (400)."""
    request, _ = _request(b'{"role": "merchant-terminal", "role": "account-owner"}')
    with pytest.raises(json.JSONDecodeError, match="repeated"):
        await request.json()
