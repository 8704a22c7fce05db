"""The OpenID Connect provider: authorization endpoint, hosted login, consent, userinfo, logout."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from keyturn.services.context import Context
from keyturn.services.oidc.hooks import discovery_extension, user_refresh_hook
from keyturn.web import (
    authorize,
    consent,
    cors,
    discovery,
    interaction,
    login,
    logout,
    oidc_clients_api,
    token,
    userinfo,
)


def install(app: FastAPI, ctx: Context) -> None:
    """Add the OIDC routes and hooks to the app."""
    ctx.extras["oidc_enabled"] = True
    ctx.extras["user_refresh_hook"] = user_refresh_hook
    ctx.extras["discovery_extension"] = discovery_extension(ctx)
    r = app.router
    for path in ("/authorize", "/api/v2/access/authorize"):
        r.add_route(path, authorize.authorize_endpoint, methods=["GET", "POST"], include_in_schema=False)
    r.add_route("/interaction/{interaction_id}", interaction.interaction_page, methods=["GET"],
                include_in_schema=False)
    r.add_route("/interaction/{interaction_id}/login", login.login_submit, methods=["POST"], include_in_schema=False)
    r.add_route("/interaction/{interaction_id}/consent", consent.consent_submit, methods=["POST"],
                include_in_schema=False)
    r.add_route("/userinfo", userinfo.userinfo_endpoint, methods=["GET", "POST"], include_in_schema=False)
    r.add_route("/userinfo", token.oauth_preflight, methods=["OPTIONS"], include_in_schema=False)
    r.add_route("/logout", logout.end_session_endpoint, methods=["GET", "POST"], include_in_schema=False)
    r.add_route("/.well-known/openid-configuration", discovery.oauth_metadata, methods=["GET"],
                include_in_schema=False)
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                 "/.well-known/jwks.json"):
        r.add_route(path, discovery_preflight, methods=["OPTIONS"], include_in_schema=False)
    app.include_router(oidc_clients_api.router)


async def discovery_preflight(request: Request) -> Response:
    c: Context = request.app.state.ctx
    origin = request.headers.get("origin")
    if origin and await cors.any_client_allows(c, origin, c.clock()):
        return Response(status_code=204, headers=cors.preflight_headers(origin, "GET, OPTIONS"))
    return Response(status_code=204, headers={"Vary": "Origin"})
