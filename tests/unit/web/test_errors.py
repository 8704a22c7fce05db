"""web/errors.py: every management-shaped answer of the pipeline is wire.common.ErrorOut, byte for byte what
the API has always sent (compact JSON, status first), no-store, on a request no route matched."""

from __future__ import annotations

import logging

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from keyturn.core.errors import ApiError, InsufficientScope, InvalidBearerRequest, InvalidToken
from keyturn.web.errors import error_response


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/x", "query_string": b"", "headers": [],
                    "scheme": "https", "server": ("keyturn.test", 443)})


@pytest.mark.parametrize(("exc", "status", "body"), [
    (ApiError(409, "CONFLICT", "already a member"), 409,
     b'{"status":"ERROR","error":"CONFLICT","message":"already a member"}'),
    (InvalidToken("the key is disabled"), 401,
     b'{"status":"ERROR","error":"UNAUTHORIZED","message":"the key is disabled"}'),
    (InvalidBearerRequest("send one token"), 400,
     b'{"status":"ERROR","error":"INVALID_REQUEST","message":"send one token"}'),
    (InsufficientScope("keyturn:admin"), 403,
     b'{"status":"ERROR","error":"INSUFFICIENT_SCOPE","message":"the access token lacks the keyturn:admin scope"}'),
    (RequestValidationError([{"loc": ("body", "name"), "msg": "Field required", "type": "missing"}]), 400,
     b'{"status":"ERROR","error":"INVALID_REQUEST","message":"name: Field required"}'),
    (HTTPException(404), 404, b'{"status":"ERROR","error":"NOT_FOUND","message":"Not Found"}'),
    (HTTPException(418), 418, b'{"status":"ERROR","error":"HTTP_ERROR","message":"I\'m a Teapot"}'),
    (RuntimeError("secret detail"), 500, b'{"status":"ERROR","error":"SERVER_ERROR","message":"unexpected error"}'),
], ids=["api", "token", "bearer", "scope", "validation", "404", "other-http", "unexpected"])
async def test_management_answers_are_the_error_shape(exc: Exception, status: int, body: bytes,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.CRITICAL, logger="keyturn.errors"):
        response = await error_response(_request(), exc)
    assert (response.status_code, response.body) == (status, body)
    assert response.headers["cache-control"] == "no-store" and response.headers["content-type"] == "application/json"


async def test_a_retry_after_rides_with_the_error_shape() -> None:
    response = await error_response(_request(), ApiError(429, "TOO_MANY_REQUESTS", "slow down", retry_after=7))
    assert response.body == b'{"status":"ERROR","error":"TOO_MANY_REQUESTS","message":"slow down"}'
    assert response.headers["retry-after"] == "7"
