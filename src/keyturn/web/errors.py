"""The error pipeline: the one place an exception becomes a response, chosen by its type.

The handler is found by walking the exception's class hierarchy, as Starlette does; the app
registers :func:`error_response` for every family below and the lean front calls it directly.

    OAuthError              RFC 6749 §5.2 JSON, no-store; WWW-Authenticate on 401; Retry-After
    InvalidBearerRequest    RFC 6750 §3.1 invalid_request (400) with a Bearer challenge
    InvalidToken            RFC 6750 §3.1 invalid_token (401); no error code when no token came (§3.1)
    InsufficientScope       RFC 6750 §3.1 insufficient_scope (403) naming the scope
    ApiError                the management API's shape (keyturn.wire.common.ErrorOut)
    RequestValidationError  the management API's shape, 400 INVALID_REQUEST naming the field
    HTTPException           (404, 405…) in the shape of the matched route's audience
    SQLAlchemyError, OSError  when the database is unavailable (keyturn.services.outage.classify): 503 with
                            Retry-After in the audience's shape (below); anything else: as Exception
    Exception               500 in that shape, logged, never with details (503 as above if the database
                            is unavailable)

Database unavailable (503, ``Retry-After: 2``, one WARNING line, no traceback): RFC 6749 JSON
``temporarily_unavailable`` (no-store) on OAuth routes; ``TEMPORARILY_UNAVAILABLE`` in the management
shape on the API; an HTML page on pages; the authorization endpoint redirects with
``error=temporarily_unavailable`` once it has proven the client and redirect URI (it records the
redirect under :data:`ERROR_REDIRECT`), else shows the HTML page. SQLAlchemy's and OSError families
have their own entry so that Starlette answers them in its ExceptionMiddleware (``Exception`` would
go to ServerErrorMiddleware, which re-raises: a traceback per request in the server's log).

The bearer errors' bodies follow the route too: RFC 6750 JSON where the route answers in RFC
JSON (userinfo), the management shape elsewhere. Answers of an endpoint that decided its own CORS
headers (keyturn.web.allow_origin) carry them, refusals included.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import (
    ApiError,
    DPoPRefused,
    InsufficientScope,
    InvalidBearerRequest,
    InvalidToken,
    OAuthError,
    UseDPoPNonce,
)
from keyturn.services.outage import FAMILIES, OUTAGES, RETRY_AFTER, classify
from keyturn.web.allow_origin import decided
from keyturn.web.pages.render import error_page, see_other
from keyturn.web.responses import json_response, shape_response
from keyturn.web.routing import Audience, matched
from keyturn.web.state import services
from keyturn.wire.common import ErrorOut

log = logging.getLogger("keyturn.errors")
E = TypeVar("E", bound=Exception)
Handler = Callable[[Request, Exception], Awaitable[Response]]
# In the ASGI scope of an authorization request: None (errors are a page) until the client and redirect URI are
# proven, then the Location of its temporarily_unavailable error redirect (RFC 6749 §4.1.2.1, with state and iss).
ERROR_REDIRECT = "keyturn.error_redirect"
UNAVAILABLE = "The service is temporarily unavailable; please retry shortly."


def _api_error(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """The management API's error answer: :class:`ErrorOut`, the shape its routes document and the CLI prints,
    no-store like every API answer."""
    return shape_response(ErrorOut(error=code, message=message), status, headers)


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


def _oauth_json(request: Request) -> bool:
    """Whether the matched route answers in RFC 6749/6750 JSON (keyturn.web.routing.Route.oauth_json)."""
    route = matched(request.scope)
    return route is not None and route.oauth_json


async def on_oauth_error(request: Request, exc: OAuthError) -> Response:
    if exc.status_code >= 500:
        log.error("%s failed: %s", request.url.path, exc.detail or exc.description)
    else:
        log.info("%s refused error=%s detail=%s", request.url.path, exc.error, exc.detail or exc.description)
    headers = decided(request.scope)
    if exc.status_code == 401:  # RFC 6749 §5.2: the scheme the client used
        headers["WWW-Authenticate"] = f'{exc.auth_scheme or "Basic"} realm="keyturn", error="{exc.error}"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, UseDPoPNonce):  # RFC 9449 §8
        headers["DPoP-Nonce"] = exc.nonce
    return json_response(exc.as_dict(), exc.status_code, headers)


def _bearer(request: Request, status: int, error: str, description: str | None, challenge: str,
            api_code: str) -> Response:
    headers = {**decided(request.scope), "WWW-Authenticate": challenge}
    if not _oauth_json(request):
        return _api_error(api_code, description or "", status, headers)
    body = {"error": error}
    if description:
        body["error_description"] = description
    return json_response(body, status, headers)


async def on_invalid_bearer_request(request: Request, exc: InvalidBearerRequest) -> Response:
    challenge = bearer_challenge("invalid_request", exc.description)
    return _bearer(request, 400, "invalid_request", exc.description, challenge, "INVALID_REQUEST")


async def on_invalid_token(request: Request, exc: InvalidToken) -> Response:
    challenge = bearer_challenge(None) if exc.missing else bearer_challenge("invalid_token", exc.description)
    # RFC 6750 §3.1: no error code, so no description either, for a request that sent no token
    description = None if exc.missing and _oauth_json(request) else exc.description
    return _bearer(request, 401, "invalid_token", description, challenge, "UNAUTHORIZED")


async def on_dpop_refused(request: Request, exc: DPoPRefused) -> Response:
    """RFC 9449 §7.1: ``WWW-Authenticate: DPoP`` with the error and the algorithms a proof may use; with
    ``use_dpop_nonce``, the nonce in ``DPoP-Nonce`` (§9)."""
    algs = " ".join(services(request).settings.dpop_signing_algs)
    challenge = f'DPoP realm="keyturn", error="{exc.error}", error_description="{_quotable(exc.description)}", ' \
                f'algs="{algs}"'
    response = _bearer(request, 401, exc.error, exc.description, challenge, "UNAUTHORIZED")
    if exc.nonce is not None:
        response.headers["DPoP-Nonce"] = exc.nonce
    return response


async def on_insufficient_scope(request: Request, exc: InsufficientScope) -> Response:
    challenge = bearer_challenge("insufficient_scope", exc.description, exc.scope)
    return _bearer(request, 403, "insufficient_scope", exc.description, challenge, "INSUFFICIENT_SCOPE")


async def on_api_error(request: Request, exc: ApiError) -> Response:
    if exc.detail:
        log.info("api error %s: %s", exc.code, exc.detail)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return shape_response(ErrorOut.of(exc), exc.status_code, headers)


async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid request"))
    if first.get("type") == "json_invalid":  # the position is no use to a caller; the reason is
        message = f"the request body is not valid JSON: {first.get('ctx', {}).get('error', 'malformed')}"
    return _api_error("INVALID_REQUEST", message[:300], 400)


async def on_http_exception(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})  # a 405 carries Allow: the matched route's methods
    if _oauth_json(request):
        # OAuth 2.1 §3.2: the token endpoint takes POST only; GET gets 405 with Allow: POST,
        # still in RFC 6749 §5.2 shape and no-store like every other answer of these endpoints.
        return json_response({"error": "invalid_request", "error_description": "use POST"
                              if exc.status_code == 405 else "bad request"}, exc.status_code, headers)
    # A body FastAPI could not parse (not UTF-8, a number too long to read) is the client's INVALID_REQUEST.
    code = {400: "INVALID_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    message = "the request body is not valid JSON" if exc.status_code == 400 else str(exc.detail)
    return _api_error(code, message, exc.status_code, headers)


def unavailable(request: Request, kind: str) -> Response:
    """The 503 of a request that failed for want of the database, in its audience's shape (module docstring)."""
    route = matched(request.scope)
    OUTAGES.failed(kind, f"{request.method} {route.path if route is not None else request.url.path}")
    retry = {"Retry-After": str(RETRY_AFTER)}
    if ERROR_REDIRECT in request.scope:
        location = request.scope[ERROR_REDIRECT]
        if isinstance(location, str):
            return see_other(location)
        return error_page(UNAVAILABLE, 503, retry)
    if route is not None and route.audience is Audience.PAGES:
        return error_page(UNAVAILABLE, 503, retry)
    headers = {**decided(request.scope), **retry}
    if _oauth_json(request):
        return json_response({"error": "temporarily_unavailable", "error_description": UNAVAILABLE}, 503, headers)
    return _api_error("TEMPORARILY_UNAVAILABLE", UNAVAILABLE, 503, headers)


async def on_database_error(request: Request, exc: Exception) -> Response:
    kind = classify(exc)
    return unavailable(request, kind) if kind is not None else await on_unexpected(request, exc)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    kind = classify(exc)
    if kind is not None:
        return unavailable(request, kind)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    if _oauth_json(request):
        return json_response({"error": "server_error"}, 500)
    return _api_error("SERVER_ERROR", "unexpected error", 500)


def _typed(cls: type[E], handler: Callable[[Request, E], Awaitable[Response]]) -> tuple[type[Exception], Handler]:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, cls)
        return await handler(request, exc)
    return cls, handle


HANDLERS: dict[type[Exception], Handler] = dict([
    _typed(OAuthError, on_oauth_error),
    _typed(InvalidBearerRequest, on_invalid_bearer_request),
    _typed(InvalidToken, on_invalid_token),
    _typed(DPoPRefused, on_dpop_refused),
    _typed(InsufficientScope, on_insufficient_scope),
    _typed(ApiError, on_api_error),
    _typed(RequestValidationError, on_validation_error),
    _typed(HTTPException, on_http_exception),
    *((cls, on_database_error) for cls in FAMILIES),  # SQLAlchemy's errors, OSError (TimeoutError included)
    (Exception, on_unexpected),
])


async def error_response(request: Request, exc: Exception) -> Response:
    """The response for ``exc``: the handler of its most specific family (``Exception`` at the least)."""
    handler = next(HANDLERS[cls] for cls in type(exc).__mro__ if cls in HANDLERS)
    return await handler(request, exc)


def install(app: FastAPI) -> None:
    """Route every family to :func:`error_response` (Starlette finds the family, the pipeline the handler)."""
    for cls in HANDLERS:
        app.add_exception_handler(cls, error_response)
