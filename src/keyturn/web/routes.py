"""The route table: every route Keyturn serves, as data (keyturn.web.routing.Route).

``create_app`` builds the FastAPI application from it, the lean front (keyturn.web.server.fastpath) serves
its ``hot`` routes directly, the CORS policy reads each path's treatment from it, and the error
pipeline answers in the shape of the matched route's audience. The management and decision API are
FastAPI routers (the OpenAPI document is theirs); their routes join the table through :func:`table`.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter

from keyturn.core import paths
from keyturn.web.decision import api as decision
from keyturn.web.management import accounts, api_keys, audit, credentials, oidc_clients, users
from keyturn.web.pages import consent, interaction, login, logout
from keyturn.web.protocol import authorize, discovery, introspection, par, registration, token, userinfo
from keyturn.web.routing import Audience as A
from keyturn.web.routing import AudienceRoute, Cors, Route
from keyturn.web.server.health import health, ready
from keyturn.web.server.metrics import metrics_endpoint

GET, POST, GET_POST = ("GET",), ("POST",), ("GET", "POST")

ROUTES: tuple[Route, ...] = (
    Route(GET, paths.HEALTHZ, health, A.SERVER),
    Route(GET, paths.HEALTH, health, A.SERVER),
    Route(GET, paths.READYZ, ready, A.SERVER),
    Route(GET, paths.METRICS, metrics_endpoint, A.SERVER),  # KEYTURN_METRICS_ALLOW / _TOKEN decide who
    # RFC 6749 §3.2, and seed 000's spelling: POST only (OAuth 2.1 §3.2)
    Route(POST, paths.TOKEN, token.token_endpoint, A.PROTOCOL, hot=True),
    Route(POST, paths.ACCESS_TOKEN, token.token_endpoint, A.PROTOCOL, hot=True),
    Route(POST, paths.INTROSPECT, introspection.introspect_endpoint, A.PROTOCOL, hot=True),  # RFC 7662
    Route(POST, paths.REVOKE, introspection.revoke_endpoint, A.PROTOCOL),  # RFC 7009
    Route(POST, paths.PAR, par.par_endpoint, A.PROTOCOL),  # RFC 9126 §2
    # Public documents: framework errors (a 405) in the management shape, as before
    *(Route(GET, path, discovery.jwks, A.PROTOCOL, oauth_errors=False) for path in (paths.JWKS, *paths.JWKS_ALIASES)),
    Route(GET, paths.AS_METADATA, discovery.oauth_metadata, A.PROTOCOL, oauth_errors=False),  # RFC 8414
    Route(GET, paths.OIDC_METADATA, discovery.oauth_metadata, A.PROTOCOL, oauth_errors=False),  # OIDC Discovery
    # RFC 6749 §3.1: GET, and POST with a form (OIDC Core §3.1.2.1); never CORS (RFC 9700 §2.6, R12);
    # its errors are pages or redirects (RFC 6749 §4.1.2.1)
    *(Route(GET_POST, path, authorize.authorize_endpoint, A.PROTOCOL, cors=Cors.NONE, oauth_errors=False)
      for path in (paths.AUTHORIZE, paths.ACCESS_AUTHORIZE)),
    Route(GET_POST, paths.USERINFO, userinfo.userinfo_endpoint, A.PROTOCOL),  # OIDC Core §5.3
    # RFC 7591 §3 (KEYTURN_REGISTRATION) and RFC 7592 §2: JSON bodies, RFC 7591 §3.2.2 errors
    Route(POST, paths.REGISTER, registration.register_endpoint, A.PROTOCOL),
    Route(("GET", "PUT", "DELETE"), paths.REGISTERED_CLIENT, registration.client_configuration_endpoint, A.PROTOCOL),
    Route(GET, paths.INTERACTION, interaction.interaction_page, A.PAGES),
    Route(POST, paths.INTERACTION_LOGIN, login.login_submit, A.PAGES),
    Route(POST, paths.INTERACTION_CONSENT, consent.consent_submit, A.PAGES),
    # RP-Initiated Logout 1.0: a browser app may call it cross-origin (its HTML pages never carry CORS)
    Route(GET_POST, paths.LOGOUT, logout.end_session_endpoint, A.PAGES, cors=Cors.FULL),
    # Seed 001's hot path: the router declares it (OpenAPI); the front runs it without dependency injection
    Route(GET, paths.ACCOUNT_MEMBERSHIPS, accounts.account_memberships_endpoint, A.MANAGEMENT, hot=True,
          in_router=True),
)

# In this order in the app (and so in the OpenAPI document).
ROUTERS: tuple[APIRouter, ...] = (credentials.router, accounts.router, api_keys.router, decision.router,
                                  oidc_clients.router, users.router, audit.router)


def table() -> Iterator[Route]:
    """Every route once: the table's, then each router's (an ``in_router`` entry stands for its router's route)."""
    declared = {(m, r.path) for r in ROUTES if r.in_router for m in r.methods}
    found: set[tuple[str, str]] = set()
    yield from ROUTES
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, AudienceRoute):
                raise TypeError(f"{route!r}: a router's routes must be AudienceRoutes (route_class)")
            keys = {(m, route.route.path) for m in route.route.methods}
            found |= keys & declared
            if not keys & declared:
                yield route.route
    if found != declared:  # the front would serve a route the app does not have
        raise LookupError(f"no router declares {sorted(declared - found)}")


def hot() -> tuple[Route, ...]:
    """The routes the lean front serves directly."""
    return tuple(r for r in ROUTES if r.hot)
