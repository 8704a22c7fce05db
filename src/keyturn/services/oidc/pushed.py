"""Pushed authorization requests (RFC 9126, FAPI 2.0 Security Profile §5.3.2.2).

A client pushes its authorization request to ``POST /par``, authenticated as at the token endpoint; it is
validated there exactly as ``/authorize`` validates one (keyturn.services.oidc.request: the registered
redirect URI, ``response_type``, scope, PKCE — S256 only, whatever ``KEYTURN_ALLOW_PLAIN_PKCE`` says) and
stored by the digest of a fresh ``request_uri`` for ``KEYTURN_PAR_LIFETIME`` seconds (at most 60). The
browser then brings only ``client_id`` and ``request_uri`` to ``/authorize``, which loads the stored
request (:func:`load`) and continues with its parameters alone; parameters sent beside them on the
authorization URL are ignored (FAPI 2.0 §5.3.2.2: only the parameters of the pushed request are used).
It is used up when the code is issued (:func:`spend`): until then the sign-in page may be reloaded.

A DPoP proof sent with the push (RFC 9449 §10.1) names the key the code is bound to: its thumbprint is
stored as the request's ``dpop_jkt``; a ``dpop_jkt`` parameter beside it must be that thumbprint
(``invalid_request`` otherwise: the RFC says to reject, not with which code, and the proof itself is valid).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import InvalidRequest, UnauthorizedClient
from keyturn.core.jose import same_thumbprint
from keyturn.core.models import AuthorizationRequest, Client, PushedRequest
from keyturn.core.secrets import digest, new_request_uri
from keyturn.services import fapi
from keyturn.services.context import Services
from keyturn.services.oidc import request as authz
from keyturn.storage import pushed_requests as store

# Client authentication (RFC 6749 §2.3.1, RFC 7521 §4.2) is never stored with the request.
CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


@dataclass(frozen=True, slots=True)
class Pushed:
    """The answer of the pushed authorization request endpoint (RFC 9126 §2.2)."""

    request_uri: str
    expires_in: int


class PushedRequestRefused(Exception):
    """The ``request_uri`` at ``/authorize`` cannot be used: ``message`` is shown on a page (the redirect URI
    is not proven by a request that cannot be found, so nothing is redirected)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def required(ctx: Services, client: Client) -> bool:
    """RFC 9126 §5: must this client's authorization requests be pushed? (server-wide or per client)"""
    return ctx.settings.require_par or client.require_pushed_authorization_requests \
        or fapi.requires_par(ctx.settings, client)  # FAPI 2.0 §5.3.2.2


async def push(ctx: Services, client: Client, params: dict[str, str], now: float, *,
               proof_jkt: str | None = None) -> Pushed:
    """Validate an authenticated client's authorization request as ``/authorize`` would and store it.
    ``proof_jkt``: the thumbprint of the key of the request's valid DPoP proof (RFC 9449 §10.1), if any.

    Raises the ``OAuthError`` ``/authorize`` would redirect, answered as JSON here (RFC 9126 §2.3).
    """
    if "request_uri" in params:
        raise InvalidRequest("request_uri must not be sent to the pushed authorization request endpoint")  # §2.1
    if proof_jkt is not None:
        if "dpop_jkt" in params and not same_thumbprint(params["dpop_jkt"], proof_jkt):
            raise InvalidRequest("dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)")
        params = {**params, "dpop_jkt": proof_jkt}
    if not authz.code_flow_client(client, now):
        raise UnauthorizedClient("this client may not use the authorization code flow")
    fapi.check_pushed(ctx.settings, client, params)
    try:
        redirect_uri = authz.trusted_redirect_uri(client, params, ())
    except authz.UntrustedRedirect as exc:
        raise InvalidRequest(exc.message) from None
    authz.validate(client, redirect_uri, params, (), allow_plain_pkce=False)  # FAPI 2.0 §5.3.2.2: S256
    request_uri = new_request_uri()
    lifetime = ctx.settings.par_lifetime
    kept = {k: v for k, v in params.items() if k not in CLIENT_AUTH_PARAMS}
    record = PushedRequest(digest=digest(request_uri), client_id=client.client_id, params=kept, created_at=now,
                           expires_at=now + lifetime, used_at=None)
    async with ctx.engine.begin() as conn:
        await store.insert_pushed_request(conn, record)
    return Pushed(request_uri, lifetime)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A live pushed request of the client: its parameters, and the digest the code's issue spends."""

    params: dict[str, str]
    digest: str


async def load(ctx: Services, client: Client, request_uri: str, now: float) -> Loaded:
    """The client's pushed request if it is unused and unexpired (RFC 9126 §4); else
    :class:`PushedRequestRefused` saying why (unknown and another client's alike). Loading does not use it
    up: :func:`spend` does, when the code is issued. The expiry is the pushing node's clock:
    ``KEYTURN_CLOCK_LEEWAY`` seconds of clock difference are tolerated, as for a code."""
    key = digest(request_uri)
    async with ctx.engine.connect() as conn:
        seen = await store.find_pushed_request(conn, key)
    if seen is None or seen.client_id != client.client_id:
        raise PushedRequestRefused("The sign-in request (request_uri) is unknown. "
                                   "Please return to the application and start again.")
    if seen.used_at is not None:
        raise PushedRequestRefused("This sign-in request (request_uri) was already used. "
                                   "Please return to the application and start again.")
    if now >= seen.expires_at + ctx.settings.clock_leeway:
        raise PushedRequestRefused("This sign-in request (request_uri) has expired. "
                                   "Please return to the application and start again.")
    return Loaded(dict(seen.params), key)


async def spend(conn: AsyncConnection, areq: AuthorizationRequest, now: float) -> None:
    """Use up the pushed request ``areq`` came from, in the transaction that issues its code (single use,
    RFC 9126 §4): ``invalid_request`` if another sign-in completed with it first. Its lifetime bounds when
    it may be loaded, not how long the person takes to sign in (the interaction's own lifetime does)."""
    if areq.pushed is not None and not await store.spend_pushed_request(conn, areq.pushed, areq.client_id, now):
        raise InvalidRequest("the request_uri was already used")
