"""The one place errors become responses: OAuth JSON, RFC 6750 challenges, the management API shape."""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import ApiError, InsufficientScope, InvalidToken, OAuthError
from keyturn.web.responses import json_response, oauth_error_response

log = logging.getLogger("keyturn.errors")
OAUTH_PATHS = ("/token", "/api/v2/access/token", "/introspect", "/revoke", "/userinfo")


def api_error_body(code: str, message: str) -> dict[str, str]:
    return {"status": "ERROR", "error": code, "message": message}


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.detail:
        log.info("api error %s: %s", exc.code, exc.detail)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return json_response(api_error_body(exc.code, exc.message), exc.status_code, headers)


def bearer_challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    """RFC 6750 §3: ``Bearer realm="keyturn"``, and an error code only when a token was presented
    (§3.1: a request without credentials SHOULD NOT get one)."""
    value = 'Bearer realm="keyturn"'
    if error is not None:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{_quotable(description)}"'
    if scope:
        value += f', scope="{scope}"'
    return value


def _quotable(text: str) -> str:
    """RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E."""
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


async def on_invalid_token(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidToken)
    challenge = bearer_challenge(None) if exc.missing else bearer_challenge("invalid_token", exc.description)
    body = api_error_body("UNAUTHORIZED", exc.description)
    return json_response(body, 401, {"WWW-Authenticate": challenge})


async def on_insufficient_scope(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InsufficientScope)
    challenge = bearer_challenge("insufficient_scope", exc.description, exc.scope)
    return json_response(api_error_body("INSUFFICIENT_SCOPE", exc.description), 403, {"WWW-Authenticate": challenge})


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
