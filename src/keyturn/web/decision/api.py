"""The decision endpoint and forward-auth (seed 001), for gateways and other services.

The caller's credential is the one to decide on; an account named in the request is the target of the
decision (never a selection of the caller's), whatever kind the principal is. The answers are the wire
shapes of keyturn.wire.decision.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from keyturn.core import paths
from keyturn.core.errors import ApiError, InvalidToken
from keyturn.core.models import Principal
from keyturn.services import access
from keyturn.web.auth import accounts_named, identify
from keyturn.web.management.schemas import ACCESS_ERRORS as ERRORS
from keyturn.web.management.schemas import Id, Strict, Word
from keyturn.web.responses import shape_response
from keyturn.web.routing import DecisionRoute
from keyturn.web.server.accesslog import note_client
from keyturn.web.state import services
from keyturn.wire.decision import AuthorizeOut, ForwardAllowed, ForwardRefused, PrincipalOut

router = APIRouter(tags=["access"], route_class=DecisionRoute)


class AuthorizeIn(Strict):
    permission: Word = Field(description="e.g. payment-requests:create")
    accountId: Id | None = Field(None, description="Account owning the resource")


ACCOUNT_PARAMS = ("account", "accountid")  # query names, compared by their letters only
PERMISSION_HEADER = "x-keyturn-permission"

# What an allowed forward-auth answer tells the gateway, which passes these headers upstream.
SUBJECT, KIND, ACCOUNT, ROLE, CLIENT_ID = (
    "X-Keyturn-Subject", "X-Keyturn-Principal-Kind", "X-Keyturn-Account", "X-Keyturn-Role", "X-Keyturn-Client-Id")
IDENTITY_HEADERS = {  # name: (sent on every allowed answer?, what it says)
    SUBJECT: (True, "The principal's id"),
    KIND: (True, "user, api_key or credential"),
    ACCOUNT: (False, "The account decided on, when there is one"),
    ROLE: (False, "The role held on that account, when there is one"),
    CLIENT_ID: (False, "The OAuth client the token was issued to, for a token"),
}
FORWARD_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": ForwardAllowed, "description": "Allowed: who the principal is, also in X-Keyturn-* headers",
          "headers": {name: {"description": text, "required": always, "schema": {"type": "string"}}
                      for name, (always, text) in IDENTITY_HEADERS.items()}},
    401: ERRORS[401],
    403: {"model": ForwardRefused, "description": "Not allowed (or the permission named twice), with the reason"},
}


def named_accounts(request: Request, *more: str | None) -> list[str]:
    """Every account the request names as its target: ``?account=``/``?accountId=``, the account-selection
    header (``KEYTURN_ACCOUNT_HEADER``, default ``X-Keyturn-Account``), and the body's ``accountId``
    (``more``). Each binds the decision, whoever the principal is."""
    # Any spelling a framework might bind to "account" counts (ACCOUNTID, account_id, account[]), so an
    # upstream that reads it case- or punctuation-insensitively can never see another account than we decided.
    names = [v for k, v in request.query_params.multi_items() if _letters(k) in ACCOUNT_PARAMS]
    names += accounts_named(services(request), request) + [m for m in more if m is not None]
    return [n.strip() for n in names if n.strip()]  # an empty value names nothing (a gateway's unset variable)


def _letters(name: str) -> str:
    return "".join(c for c in name.lower() if c.isascii() and c.isalpha())


def permission_named(request: Request) -> str | None:
    """The one permission a forward-auth request asks about: ``X-Keyturn-Permission`` or ``?permission=``.

    Named twice (two headers, two parameters, header and query) it is ambiguous, even when the names agree
    or one is empty: a gateway that sets one source while the client controls the other must never let the
    client choose (403). An empty value alone means no permission check, as no value does.
    """
    names = request.headers.getlist(PERMISSION_HEADER) + [
        v for k, v in request.query_params.multi_items() if _letters(k) == "permission"]
    if len(names) > 1:
        raise ApiError(403, "AMBIGUOUS_PERMISSION", "the request names the permission more than once")
    return names[0].strip() or None if names else None


async def decision_principal(request: Request) -> Principal:
    """The caller for the decision endpoints: no account selection here, a named account is the target."""
    principal = await identify(services(request), request)
    note_client(request.scope, principal.resource_name)
    return principal


DECISION_ANSWERS = {**ERRORS, 403: {"model": AuthorizeOut, "description": "Not allowed, with the reason"}}


@router.post(
    paths.DECISION,
    response_model=AuthorizeOut,
    responses=DECISION_ANSWERS,
    summary="Decision for other services: may the forwarded credential do `permission` on `accountId`?",
)
@router.post(
    paths.CREDENTIAL_GRANT_ALLOW,
    response_model=AuthorizeOut,
    responses=DECISION_ANSWERS,
    summary=f"TropiPay's path for the decision endpoint: the same request and answer as POST {paths.DECISION}",
)
async def authorize(body: AuthorizeIn, request: Request) -> Response:
    """``POST /api/authorize``, and ``POST /api/v2/credential/grant/allow`` (TropiPay's path, same function).
    200 ``allowed: true`` or 403 ``allowed: false`` with the reason. The account may be named in the body
    (``accountId``), the query or the account-selection header (``KEYTURN_ACCOUNT_HEADER``, default
    ``X-Keyturn-Account``); it binds API keys and credentials as it binds users."""
    principal = await decision_principal(request)
    verdict = await access.authorize(services(request), principal, body.permission,
                                     named_accounts(request, body.accountId))
    who = PrincipalOut.decided(principal, verdict.account_id, verdict.role)
    answer = AuthorizeOut(allowed=verdict.allowed, principal=who, reason=verdict.reason, accountId=verdict.account_id)
    return shape_response(answer, 200 if verdict.allowed else 403)


@router.get(
    "/auth/forward",
    status_code=200,
    responses=FORWARD_ANSWERS,
    summary="Forward-auth for gateways (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz)",
)
async def forward_auth(request: Request) -> Response:
    """200 with ``X-Keyturn-*`` identity headers, else 401/403 only (a gateway treats anything else as an
    error). The permission comes from ``X-Keyturn-Permission`` or ``?permission=``; the target account from
    ``?account=``, ``?accountId=`` or the account-selection header (``KEYTURN_ACCOUNT_HEADER``, default
    ``X-Keyturn-Account``) for every kind of principal (default: the key's or credential's own, a user's
    individual account). ``X-Keyturn-Account`` in a 200 is the account decided on, whatever that setting."""
    ctx = services(request)
    try:
        principal = await decision_principal(request)
    except ApiError as exc:  # ambiguous or malformed headers: still only a 401 for the gateway
        raise InvalidToken(exc.message) from None
    try:
        verdict = await access.authorize(ctx, principal, permission_named(request), named_accounts(request))
    except ApiError as exc:
        return shape_response(ForwardRefused(reason=exc.message), 403)
    if not verdict.allowed:
        return shape_response(ForwardRefused(reason=verdict.reason), 403)
    headers = {SUBJECT: principal.id, KIND: principal.kind}
    if verdict.account_id:
        headers[ACCOUNT] = verdict.account_id
    if verdict.role:
        headers[ROLE] = verdict.role
    if principal.client_id:
        headers[CLIENT_ID] = principal.client_id
    return shape_response(ForwardAllowed(principal=PrincipalOut.of(principal)), 200, headers)
