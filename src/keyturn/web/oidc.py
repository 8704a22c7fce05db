"""The OpenID Connect provider: authorization endpoint, hosted login, consent, userinfo, logout."""

from __future__ import annotations

from fastapi import FastAPI

from keyturn.web import (
    authorize,
    consent,
    discovery,
    interaction,
    login,
    logout,
    oidc_clients_api,
    userinfo,
)


def install(app: FastAPI) -> None:
    """Add the OIDC routes to the app."""
    r = app.router
    for path in ("/authorize", "/api/v2/access/authorize"):
        r.add_route(path, authorize.authorize_endpoint, methods=["GET", "POST"], include_in_schema=False)
    r.add_route("/interaction/{interaction_id}", interaction.interaction_page, methods=["GET"],
                include_in_schema=False)
    r.add_route("/interaction/{interaction_id}/login", login.login_submit, methods=["POST"], include_in_schema=False)
    r.add_route("/interaction/{interaction_id}/consent", consent.consent_submit, methods=["POST"],
                include_in_schema=False)
    r.add_route("/userinfo", userinfo.userinfo_endpoint, methods=["GET", "POST"], include_in_schema=False)
    r.add_route("/logout", logout.end_session_endpoint, methods=["GET", "POST"], include_in_schema=False)
    r.add_route("/.well-known/openid-configuration", discovery.oauth_metadata, methods=["GET"],
                include_in_schema=False)
    app.include_router(oidc_clients_api.router)

