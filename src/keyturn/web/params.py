"""Parsing OAuth request parameters ourselves: urlencoded (query or form, RFC 6749) and JSON (seed 000's axios).

One reading of ``application/x-www-form-urlencoded`` for every endpoint (token, introspection, revocation,
userinfo, authorize's query and form, logout, the login and consent forms), under one rule (RFC 6749 §3.1):
a parameter without a value is treated as omitted, so it neither counts nor makes another occurrence a
repeat; a parameter sent more than once (with a value) is an error. :func:`collect` reports the repeated
names and each endpoint answers them its own way (authorize: on a page or redirected; the rest:
``invalid_request``). Names and values are UTF-8 (RFC 6749 Appendix B); bodies are at most
``max_body_bytes``. Unknown parameters are ignored by each grant.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from keyturn.core.errors import InvalidRequest
from keyturn.core.text import RepeatedMember, unique_members

Params = dict[str, str]
Pairs = list[tuple[str, str]]
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Parameters:
    """Parameters by name (the first value sent) and the names sent more than once, in the order repeated."""

    values: Params
    repeated: tuple[str, ...]

    def unique(self) -> Params:
        """The values, or ``invalid_request`` naming the first repeated parameter (RFC 6749 §3.1)."""
        if self.repeated:
            raise InvalidRequest(f"parameter {_safe(self.repeated[0])} is repeated")
        return self.values


def decode(raw: bytes, max_fields: int | None = None) -> Pairs:
    """The ``name=value`` pairs of an urlencoded query or body, in order, repeats and empty values kept.

    ``+`` is a space and ``%XX`` a byte (a ``%`` without two hex digits stays as it is); the bytes must
    be UTF-8. More than ``max_fields`` ``&``-separated fields (empty ones included) is refused.
    """
    if max_fields is not None and raw.count(b"&") + 1 > max_fields:
        raise InvalidRequest("too many parameters")
    pairs: Pairs = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_b, _, value_b = pair.partition(b"=")
        try:
            name = unquote_to_bytes(name_b.replace(b"+", b" ")).decode("utf-8")
            value = unquote_to_bytes(value_b.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("request body is not valid UTF-8") from None
        pairs.append((name, value))
    return pairs


def collect(pairs: Iterable[tuple[str, str]]) -> Parameters:
    """RFC 6749 §3.1: an empty value is omitted (whichever order it comes in); a name with two values is
    repeated (the first value is kept, for answers that may still echo something)."""
    values: Params = {}
    repeated: list[str] = []
    for name, value in pairs:
        if value == "":
            continue
        if name not in values:
            values[name] = value
        elif name not in repeated:
            repeated.append(name)
    return Parameters(values, tuple(repeated))


def parse_form(body: bytes) -> Params:
    """An urlencoded body whose parameters must each be sent once (``invalid_request`` otherwise)."""
    return collect(decode(body)).unique()


def parse_json(body: bytes) -> Params:
    """Seed 000's axios examples send JSON; the same rules as a form apply (one value per name)."""
    out: Params = {}
    for k, v in _json_object(body, empty={}).items():
        if v is None or v == "":
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise InvalidRequest(f"parameter {_safe(k)} must be a string")
        value = str(v)
        if not _encodable(k) or not _encodable(value):
            raise InvalidRequest("request body is not valid UTF-8")
        out[k] = value
    return out


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object whose members may be arrays (RFC 7591 client metadata): each member sent once, the
    same malformed-body answers as :func:`parse_json`; values are checked by whoever reads them."""
    return _json_object(body, empty=None)


def _json_object(body: bytes, *, empty: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON object ``body`` holds, each member once (``empty``: what an empty body is; None: refused)."""
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=unique_members) if body else empty
    except RepeatedMember as exc:
        raise InvalidRequest(f"parameter {_safe(exc.name)} is repeated") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


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


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, in lower case (RFC 9110 §8.3.1)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def parse_body(request: Request, max_bytes: int) -> Params:
    """Form or JSON, by Content-Type; anything else is invalid_request."""
    ctype = media_type(request)
    body = await read_body(request, max_bytes)
    if ctype == FORM:
        return parse_form(body)
    if ctype == "application/json" or ctype.endswith("+json"):
        return parse_json(body)
    raise InvalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
