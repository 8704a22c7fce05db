"""Discovery (RFC 8414, OIDC Discovery) and the JWKS. Every URL derives from the issuer setting."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keyturn.services.context import Context
from keyturn.services.keyring import JWKS_RELOAD_SECONDS
from keyturn.web import cors
from keyturn.web.responses import json_response


def metadata(ctx: Context) -> dict[str, Any]:
    iss = ctx.settings.issuer
    oidc = bool(ctx.extras.get("oidc_enabled"))
    grant_types = ["client_credentials", "refresh_token"] + (["authorization_code"] if oidc else [])
    meta: dict[str, Any] = {
        "issuer": iss,
        "token_endpoint": f"{iss}/token",
        "jwks_uri": f"{iss}/.well-known/jwks.json",
        "introspection_endpoint": f"{iss}/introspect",
        "revocation_endpoint": f"{iss}/revoke",
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]
        + (["none"] if oidc else []),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]
        + (["none"] if oidc else []),
        "scopes_supported": sorted(set(ctx.settings.allowed_scopes or ())) or None,
        "access_token_signing_alg_values_supported": [ctx.settings.access_token_alg],
        "response_types_supported": ["code"] if oidc else [],
    }
    extend = ctx.extras.get("discovery_extension")
    if callable(extend):
        extend(meta)
    return {k: v for k, v in meta.items() if v is not None}


async def _cors(request: Request, ctx: Context) -> dict[str, str]:
    origin = request.headers.get("origin")
    if origin and await cors.any_client_allows(ctx, origin, ctx.clock()):
        return cors.allow_headers(origin)
    return {}


async def oauth_metadata(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    headers = {"Cache-Control": "public, max-age=300", **(await _cors(request, ctx))}
    return json_response(metadata(ctx), headers=headers, no_store=False)


async def jwks(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    now = ctx.clock()
    # A key rotated by `keyturn keys rotate` (another process) is published within seconds.
    await ctx.keys.maybe_reload(now, JWKS_RELOAD_SECONDS)
    headers = {"Cache-Control": "public, max-age=300", **(await _cors(request, ctx))}
    return json_response({"keys": ctx.keys.published(now)}, headers=headers, no_store=False)
