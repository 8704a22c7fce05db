"""``POST /register`` (RFC 7591 §3) and ``GET/PUT/DELETE /register/{client_id}`` (RFC 7592 §2).

Served only when ``KEYTURN_REGISTRATION`` is not ``off`` (then registration answers 404 and discovery
does not advertise it); the RFC 7592 endpoint keeps serving clients registered before. The caller's
``Authorization: Bearer`` is an initial access token (``ktia_…``), or, with ``user_token``, a user's access
token; a registered client's configuration is reached with its registration access token (``ktra_…``).
Bodies are JSON objects of at most ``KEYTURN_MAX_BODY_BYTES``. Refusals are RFC 7591 §3.2.2 / RFC 6750 §3.1
errors, raised and answered by the error pipeline; every answer is ``no-store`` (it carries secrets).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyturn.core import paths
from keyturn.core.bearer import bearer_token
from keyturn.core.errors import InvalidBearerRequest, InvalidRequest, InvalidToken
from keyturn.core.models import Principal
from keyturn.core.secrets import PREFIX_INITIAL_ACCESS
from keyturn.services.context import Services
from keyturn.services.oidc import registration
from keyturn.web.auth import principal_from_token
from keyturn.web.params import media_type, parse_json_object, read_body
from keyturn.web.responses import json_response
from keyturn.web.server.address import client_ip
from keyturn.web.state import services
from keyturn.wire.registration import RegisteredClientOut


def _bearer(request: Request) -> str:
    """The token of the one ``Authorization: Bearer`` header (RFC 6750 §2.1)."""
    headers = request.headers.getlist("authorization")
    if not headers:
        raise InvalidToken(missing=True)
    token = bearer_token(headers[0], prefix_optional=False) if len(headers) == 1 else None
    if token is None:
        raise InvalidBearerRequest("send one Authorization: Bearer header")
    return token


async def _body(request: Request, ctx: Services) -> dict[str, Any]:
    if media_type(request) != "application/json":  # RFC 7591 §3.1
        raise InvalidRequest("Content-Type must be application/json")
    return parse_json_object(await read_body(request, ctx.settings.max_body_bytes))


def _answer(ctx: Services, found: registration.Registered, status: int = 200) -> Response:
    uri = ctx.settings.issuer + paths.REGISTERED_CLIENT.format(client_id=found.client.client_id)
    return json_response(RegisteredClientOut.of(found.client, registration_token=found.registration_token,
                                                registration_client_uri=uri, secret=found.secret), status)


async def register_endpoint(request: Request) -> Response:
    ctx = services(request)
    mode = ctx.settings.registration
    if mode == "off":
        raise HTTPException(404)
    token = _bearer(request)
    user: Principal | None = None
    if not token.startswith(PREFIX_INITIAL_ACCESS):
        if mode != "user_token":
            raise InvalidToken("an initial access token is required")
        user = await principal_from_token(ctx, token, ctx.clock())
        if user.kind != "user":
            raise InvalidToken("a user's access token is required")
    body = await _body(request, ctx)
    found = await registration.register(ctx, body, initial_token=None if user else token, user=user,
                                        ip=client_ip(request))
    return _answer(ctx, found, 201)


async def client_configuration_endpoint(request: Request) -> Response:
    ctx = services(request)
    client_id = request.path_params["client_id"]
    token = _bearer(request)
    if request.method == "GET":
        return _answer(ctx, await registration.read(ctx, client_id, token))
    if request.method == "PUT":
        body = await _body(request, ctx)
        return _answer(ctx, await registration.update(ctx, client_id, token, body, ip=client_ip(request)))
    await registration.delete(ctx, client_id, token, ip=client_ip(request))
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
