"""Parsing OAuth request bodies ourselves: form (RFC 6749) and JSON (seed 000's axios examples).

Rules (RFC 6749 §3.1/§3.2, OAuth 2.1 §3.2.2): a parameter sent more than once is an
error; parameters without a value are treated as omitted; unknown parameters are
ignored by each grant; bodies must be UTF-8 and at most ``max_body_bytes``.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from keyturn.core.errors import InvalidRequest
from keyturn.core.text import RepeatedMember, unique_members

Params = dict[str, str]


def parse_form(body: bytes) -> Params:
    out: Params = {}
    if not body:
        return out
    for pair in body.split(b"&"):
        if not pair:
            continue
        name_b, _, value_b = pair.partition(b"=")
        try:
            name = unquote_to_bytes(name_b.replace(b"+", b" ")).decode("utf-8")
            value = unquote_to_bytes(value_b.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("request body is not valid UTF-8") from None
        if name in out:
            raise InvalidRequest(f"parameter {_safe(name)} is repeated")
        out[name] = value
    return {k: v for k, v in out.items() if v != ""}


def parse_json(body: bytes) -> Params:
    """Seed 000's axios examples send JSON; the same rules as a form apply (one value per name)."""
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=unique_members) if body else {}
    except RepeatedMember as exc:
        raise InvalidRequest(f"parameter {_safe(exc.name)} is repeated") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    out: Params = {}
    for k, v in data.items():
        if v is None or v == "":
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise InvalidRequest(f"parameter {_safe(k)} must be a string")
        value = str(v)
        if not _encodable(k) or not _encodable(value):
            raise InvalidRequest("request body is not valid UTF-8")
        out[k] = value
    return out


def _encodable(text: str) -> bool:
    """False for lone surrogates (JSON ``\\ud800``): not Unicode scalar values, not storable."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _safe(name: str) -> str:
    """A parameter name fit for an error_description (RFC 6749 §5.2 character set)."""
    cleaned = "".join(c for c in name[:40] if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
    return cleaned or "?"


def client_ip(request: Request) -> str | None:
    """The TCP peer's address; X-Forwarded-For is never trusted (`serve` runs uvicorn with proxy_headers off)."""
    return request.client.host if request.client else None


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("bad Content-Length")
        if int(declared) > max_bytes:
            raise InvalidRequest("request body is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise InvalidRequest("request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(request: Request, max_bytes: int) -> Params:
    """Form or JSON, by Content-Type; anything else is invalid_request."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, max_bytes)
    if ctype == "application/x-www-form-urlencoded":
        return parse_form(body)
    if ctype == "application/json" or ctype.endswith("+json"):
        return parse_json(body)
    raise InvalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
