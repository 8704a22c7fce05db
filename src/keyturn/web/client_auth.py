"""Client authentication of an HTTP request at the token, introspection, revocation and PAR endpoints."""

from __future__ import annotations

from starlette.requests import Request

from keyturn.services.client_auth import ClientAuth, authenticate_client
from keyturn.services.context import Services
from keyturn.web.mtls import certificate_verified, client_certificate
from keyturn.web.server.accesslog import note_client
from keyturn.web.server.address import client_ip


async def authenticate_request(ctx: Services, request: Request, params: dict[str, str], now: float, *,
                               allow_public: bool) -> ClientAuth:
    """The request's client (RFC 6749 §2.3), named in its access-log line once authenticated."""
    ip = client_ip(request)
    auth = await authenticate_client(ctx, request.headers.get("authorization"), params, now,
                                     allow_public=allow_public, ip=ip,
                                     certificate=client_certificate(request),
                                     certificate_verified=certificate_verified(request))
    note_client(request.scope, auth.client.client_id)
    return auth
