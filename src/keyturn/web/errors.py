"""The one place errors become responses: OAuth JSON, RFC 6750 challenges, the management API shape."""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import ApiError, InvalidToken, OAuthError
from keyturn.web.responses import json_response, oauth_error_response

log = logging.getLogger("keyturn.errors")
OAUTH_PATHS = ("/token", "/api/v2/access/token", "/introspect", "/revoke", "/userinfo")


def api_error_body(code: str, message: str) -> dict[str, str]:
    return {"status": "ERROR", "error": code, "message": message}


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.detail:
        log.info("api error %s: %s", exc.code, exc.detail)
    return json_response(api_error_body(exc.code, exc.message), exc.status_code)


async def on_invalid_token(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidToken)
    # Issue 3 asks for error="invalid_token" on a missing credential too; RFC 6750 §3.1 only
    # says SHOULD NOT, and clients that look for `Bearer realm=` still find it first.
    challenge = f'Bearer realm="keyturn", error="invalid_token", error_description="{exc.description}"'
    body = api_error_body("UNAUTHORIZED", exc.description)
    return json_response(body, 401, {"WWW-Authenticate": challenge})


async def on_oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return oauth_error_response(exc)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
    return json_response(api_error_body("INVALID_REQUEST", message[:300]), 400)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if request.url.path in OAUTH_PATHS:
        # OAuth 2.1 §3.2: the token endpoint takes POST only; GET gets 405 with Allow: POST,
        # still in RFC 6749 §5.2 shape and no-store like every other answer of these endpoints.
        if exc.status_code == 405 and request.url.path != "/userinfo":
            headers["Allow"] = "POST"
        return json_response({"error": "invalid_request", "error_description": "use POST"
                              if exc.status_code == 405 else "bad request"}, exc.status_code, headers)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return json_response(api_error_body(code, str(exc.detail)), exc.status_code, headers, no_store=False)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    if request.url.path in OAUTH_PATHS:
        return json_response({"error": "server_error"}, 500)
    return json_response(api_error_body("SERVER_ERROR", "unexpected error"), 500)
