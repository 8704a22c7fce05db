"""One authentication layer for every management endpoint (seed 001 "Authenticating API Calls").

``X-Api-Key: <key>`` or ``Authorization: <access token>`` with or without the
``Bearer `` prefix (seed 001's curl sends none), or ``Authorization: DPoP <token>`` with a ``DPoP`` proof
(RFC 9449 §7; a DPoP-bound token is refused as Bearer, services/dpop.py). Both at once is refused as
ambiguous (400). Failures are 401 with ``WWW-Authenticate: Bearer error="invalid_token"``.
For user tokens, the account-selection header (``KEYTURN_ACCOUNT_HEADER``: ``X-Keyturn-Account`` by
default, Centrapay's ``X-Centrapay-Account``) selects the account a request acts on; API keys and
credentials are bound to one account, and naming another one is refused. Exactly one header name is read:
a server configured with another name refuses a request that still sends ``X-Keyturn-Account`` (400), so
a call never acts on another account than its sender meant.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from starlette.requests import Request

from keyturn.core.bearer import access_token
from keyturn.core.errors import ApiError, InvalidToken
from keyturn.core.headers import DEFAULT_ACCOUNT_HEADER
from keyturn.core.models import Principal
from keyturn.services import api_keys
from keyturn.services.context import Services
from keyturn.services.dpop import Presented, public_url
from keyturn.services.introspection import verify_access_token
from keyturn.web.mtls import certificate_thumbprint
from keyturn.web.server.accesslog import note_client
from keyturn.web.state import services

PRINCIPAL_KEY = "keyturn.principal"  # in the ASGI scope: request.state's getattr misses cost an exception


def bearer_value(header: str) -> tuple[str, str]:
    """``(scheme, token)``: ``Bearer`` (seed 001: with or without the prefix) or ``DPoP``."""
    found = access_token(header, prefix_optional=True)
    if found is None:
        raise InvalidToken("malformed Authorization header")
    return found


# /auth/forward is asked by a gateway about another request, often to another host: the method and URI a DPoP
# proof names are that request's, which the gateway sets (overwriting what the client sent): the method in
# X-Original-Method or X-Forwarded-Method; the URI in X-Original-URL (absolute: nginx `$scheme://$host$request_uri`)
# or X-Forwarded-Proto + X-Forwarded-Host + X-Forwarded-Uri (Traefik ForwardAuth), missing parts the issuer's.
FORWARD_PATH = "/auth/forward"


def request_target(ctx: Services, request: Request) -> tuple[str, str]:
    """The method and URI a DPoP proof of this request must name (htm, htu; docs/dpop.md)."""
    if request.url.path != FORWARD_PATH:
        return request.method, public_url(ctx.settings, request.url.path)
    h = request.headers
    method = (h.get("x-original-method") or h.get("x-forwarded-method") or request.method).upper()
    original = h.get("x-original-url")
    if original:
        return method, original
    issuer = urlsplit(ctx.settings.issuer)
    proto = h.get("x-forwarded-proto") or issuer.scheme
    host = h.get("x-forwarded-host") or issuer.netloc
    uri = h.get("x-forwarded-uri") or h.get("x-original-uri") or request.url.path
    return method, f"{proto}://{host}{uri if uri.startswith('/') else '/' + uri}"


async def principal_from_token(ctx: Services, token: str, now: float, presented: Presented | None = None
                               ) -> Principal:
    claims = await verify_access_token(ctx, token, now)
    if claims is None:
        raise InvalidToken()
    if presented is not None:
        await presented.check(ctx, claims, now)
    scopes = tuple(str(claims.get("scope", "")).split())
    if claims.get("kind") == "credential":
        return Principal(kind="credential", id=claims["client_id"], account_id=claims.get("account_id"),
                         role=claims.get("role"), scopes=scopes, client_id=claims["client_id"], claims=claims)
    return Principal(kind="user", id=claims["sub"], scopes=scopes, client_id=claims.get("client_id"), claims=claims)


def accounts_named(ctx: Services, request: Request) -> list[str]:
    """The values of the account-selection header (``KEYTURN_ACCOUNT_HEADER``), as sent.

    The default name, sent to a server that reads another one, is refused (400), never ignored: the caller
    meant an account, and acting on a default account instead would surprise them.
    """
    name = ctx.settings.account_header
    if name.lower() != _DEFAULT and _DEFAULT in request.headers:
        raise ApiError(400, "INVALID_REQUEST", f"this server selects the account with {name}, "
                                               f"not {DEFAULT_ACCOUNT_HEADER}")
    return request.headers.getlist(name)


_DEFAULT = DEFAULT_ACCOUNT_HEADER.lower()


def select_account(principal: Principal, selected: str | None, header: str = DEFAULT_ACCOUNT_HEADER) -> Principal:
    """Apply the account-selection header ``header`` (membership is checked by the decision, not here)."""
    if selected is None:
        return principal
    selected = selected.strip()
    if not selected or len(selected) > 64:
        raise ApiError(400, "INVALID_REQUEST", f"{header} must be an account id")
    if principal.kind == "user":
        return replace(principal, account_id=selected)
    if selected != principal.account_id:
        raise ApiError(400, "ACCOUNT_MISMATCH", "this credential is bound to another account")
    return principal


async def authenticate(ctx: Services, request: Request) -> Principal:
    """The caller, with the account the account-selection header selects (management API)."""
    selected = accounts_named(ctx, request)
    header = ctx.settings.account_header
    if len(selected) > 1:
        raise ApiError(400, "INVALID_REQUEST", f"{header} is sent more than once")
    return select_account(await identify(ctx, request), selected[0] if selected else None, header)


async def identify(ctx: Services, request: Request) -> Principal:
    """The caller as its credential says, no account selection (the decision endpoints treat a named
    account as the target to decide on, web/decision/api.py)."""
    now = ctx.clock()
    keys, authorizations = request.headers.getlist("x-api-key"), request.headers.getlist("authorization")
    if len(keys) + len(authorizations) > 1:  # two credentials are never merged, nor is one picked (§8 D6)
        raise ApiError(400, "AMBIGUOUS_CREDENTIALS", "send one credential: X-Api-Key or Authorization, once")
    api_key = keys[0] if keys else None
    authorization = authorizations[0] if authorizations else None
    if api_key is not None:
        return await api_keys.authenticate(ctx, api_key.strip(), now)
    if authorization is None:
        raise InvalidToken("authentication required", missing=True)
    scheme, token = bearer_value(authorization)
    method, url = request_target(ctx, request)
    presented = Presented(scheme, token, tuple(request.headers.getlist("dpop")), method, url,
                          certificate_thumbprint(request))
    return await principal_from_token(ctx, token, now, presented)


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller (cached on the request)."""
    cached = request.scope.get(PRINCIPAL_KEY)
    if isinstance(cached, Principal):
        return cached
    principal = await authenticate(services(request), request)
    request.scope[PRINCIPAL_KEY] = principal
    note_client(request.scope, principal.resource_name)
    return principal
