"""JSON responses, built cheaply: every endpoint and the error pipeline answer through :func:`json_response`;
and the error answers a route documents (:func:`error_answers`), in the shape the error pipeline sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from keyturn.wire.common import ErrorOut, plain

_JSON = (b"content-type", b"application/json")
_NO_STORE_RAW = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


class JSONBytes(Response):
    """A JSON response whose headers are built as raw bytes at once (no header parsing per response)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [(b"content-length", b"%d" % len(body)), _JSON, *raw_headers]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  no_store: bool = True) -> Response:
    raw = list(_NO_STORE_RAW) if no_store else []
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return JSONBytes(orjson.dumps(data), status, raw)


def shape_response(shape: BaseModel | Sequence[BaseModel], status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
    """A wire shape (keyturn.wire: validated when it was built from records) as a no-store JSON answer, the
    same data the CLI prints."""
    return json_response(plain(shape), status, headers)


def error_answers(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for its errors: each status in :class:`ErrorOut`, the one error shape (the error
    pipeline sends it, the CLI prints it), with what the status means on that route."""
    return {status: {"model": ErrorOut, "description": text} for status, text in descriptions.items()}
