"""Pushed authorization requests (RFC 9126, FAPI 2.0 Security Profile §5.3.2.2).

A client pushes its authorization request to ``POST /par``, authenticated as at the token endpoint; it is
validated there exactly as ``/authorize`` validates one (keyturn.services.oidc.request: the registered
redirect URI, ``response_type``, scope, PKCE — S256 only, whatever ``KEYTURN_ALLOW_PLAIN_PKCE`` says) and
stored by the digest of a fresh ``request_uri`` for ``KEYTURN_PAR_LIFETIME`` seconds (at most 60). The
browser then brings only ``client_id`` and ``request_uri`` to ``/authorize``, which consumes the stored
request once (:func:`pull`) and continues with its parameters alone; parameters sent beside them on the
authorization URL are ignored (FAPI 2.0 §5.3.2.2: only the parameters of the pushed request are used).
"""

from __future__ import annotations

from dataclasses import dataclass

from keyturn.core.errors import InvalidRequest, UnauthorizedClient
from keyturn.core.models import Client, PushedRequest
from keyturn.core.secrets import digest, new_request_uri
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
    return ctx.settings.require_par or client.require_pushed_authorization_requests


async def push(ctx: Services, client: Client, params: dict[str, str], now: float) -> Pushed:
    """Validate an authenticated client's authorization request as ``/authorize`` would and store it.

    Raises the ``OAuthError`` ``/authorize`` would redirect, answered as JSON here (RFC 9126 §2.3).
    """
    if "request_uri" in params:
        raise InvalidRequest("request_uri must not be sent to the pushed authorization request endpoint")  # §2.1
    if not authz.code_flow_client(client, now):
        raise UnauthorizedClient("this client may not use the authorization code flow")
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


async def pull(ctx: Services, client: Client, request_uri: str, now: float) -> dict[str, str]:
    """The parameters of the client's pushed request, consumed (RFC 9126 §4: single use); else
    :class:`PushedRequestRefused` saying why (unknown and another client's alike)."""
    key = digest(request_uri)
    async with ctx.engine.begin() as conn:
        found = await store.consume_pushed_request(conn, key, client.client_id, now, ctx.settings.clock_leeway)
        if found is not None:
            return dict(found.params)
        seen = await store.find_pushed_request(conn, key)
    if seen is None or seen.client_id != client.client_id:
        raise PushedRequestRefused("The sign-in request (request_uri) is unknown. "
                                   "Please return to the application and start again.")
    if seen.used_at is not None:
        raise PushedRequestRefused("This sign-in request (request_uri) was already used. "
                                   "Please return to the application and start again.")
    raise PushedRequestRefused("This sign-in request (request_uri) has expired. "
                               "Please return to the application and start again.")
