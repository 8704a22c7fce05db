"""Accounts, memberships, API keys, the decision endpoint and forward-auth (seed 001).

Thin HTTP: parse with pydantic (unknown fields are refused, so ids, audit fields, flags and
subscriptions cannot be mass-assigned), call a use case, render. Every route authenticates
through :func:`keyturn.web.auth.current_principal`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.responses import Response

from keyturn.core import paths
from keyturn.core.errors import ApiError, InvalidToken
from keyturn.core.models import Principal
from keyturn.services import access, accounts, api_keys
from keyturn.web.accesslog import note_client
from keyturn.web.auth import ACCOUNT_HEADER, current_principal, identify
from keyturn.web.credential_api import ErrorOut
from keyturn.web.responses import json_response
from keyturn.web.routing import DecisionRoute, ManagementRoute
from keyturn.web.schemas import Id, Name, UserRef, Word
from keyturn.web.state import services

router = APIRouter(tags=["access"], route_class=ManagementRoute)
decision_router = APIRouter(tags=["access"], route_class=DecisionRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "Invalid input (INVALID_REQUEST, INVALID_ROLE, AMBIGUOUS_CREDENTIALS…)",
    },
    401: {"model": ErrorOut, "description": "Missing, malformed, expired, revoked or disabled credential"},
    403: {"model": ErrorOut, "description": "Authenticated, but the named permission is missing"},
    404: {"model": ErrorOut, "description": "No such object, or not visible to the caller"},
    409: {"model": ErrorOut, "description": "Conflict (duplicate name, already a member…)"},
}
Caller = Depends(current_principal)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MembershipOut(BaseModel):
    accountId: str
    accountName: str | None
    accountType: str | None
    role: str | None


class AccountCreate(Strict):
    name: Name = Field(description="Display name")
    type: Literal["org", "individual"] = Field("org", description="org (default) or individual")
    test: StrictBool = Field(False, description="A test account (its API keys start kt_test_)")


class AccountUpdate(Strict):
    """PUT replaces the one field a caller may change: name is required."""

    name: Name


class AccountOut(BaseModel):
    id: str
    name: str
    type: str
    test: bool
    flags: list[str]
    subscriptions: list[str]
    createdAt: str | None
    createdBy: str | None = Field(description="Who created it: user:…, api-key:…, credential:… or operator")
    modifiedAt: str | None
    modifiedBy: str | None


class MemberAdd(Strict):
    user: UserRef = Field(description="User id, email, phone number or username")
    role: Word


class MemberOut(BaseModel):
    userId: str
    email: str | None
    preferredUsername: str | None
    role: str
    createdAt: str | None


class ApiKeyCreate(Strict):
    name: Word
    role: Word = Field(description="A role no stronger than the caller's on the account")


class ApiKeyUpdate(Strict):
    enabled: StrictBool


class ApiKeyOut(BaseModel):
    id: str
    accountId: str
    name: str
    role: str
    enabled: bool
    hint: str = Field(description="Prefix and last characters, to recognise the key")
    createdAt: str | None
    createdBy: str | None
    updatedAt: str | None
    lastUsedAt: str | None
    secret: str | None = Field(None, description="The key itself: only in the create answer, shown once")


class AuthorizeIn(Strict):
    permission: Word = Field(description="e.g. payment-requests:create")
    accountId: Id | None = Field(None, description="Account owning the resource")


class PrincipalOut(BaseModel):
    kind: Literal["user", "api_key", "credential"]
    id: str
    accountId: str | None
    role: str | None
    clientId: str | None


class AuthorizeOut(BaseModel):
    allowed: bool
    principal: PrincipalOut
    reason: str
    accountId: str | None


@router.get(
    paths.ACCOUNT_MEMBERSHIPS,
    response_model=list[MembershipOut],
    responses=ERRORS,
    summary="The caller's memberships (seed 001: X-Api-Key, or Authorization with or without Bearer)",
)
async def account_memberships(request: Request, principal: Principal = Caller) -> Response:
    return await account_memberships_endpoint(request)


async def account_memberships_endpoint(request: Request) -> Response:
    """The same, without dependency injection: what the lean front runs (web/fastpath.py)."""
    return json_response(await accounts.memberships_of(services(request), await current_principal(request)))


@router.get(
    "/api/users/{userId}/account-memberships",
    response_model=list[MembershipOut],
    responses=ERRORS,
    summary="A user's memberships (only the user themself; `me` works)",
)
async def user_memberships(userId: str, request: Request, principal: Principal = Caller) -> Response:
    return json_response(await accounts.memberships_of_user(services(request), principal, userId))


@router.post(
    "/api/accounts",
    response_model=AccountOut,
    status_code=201,
    responses=ERRORS,
    summary="Create an account owned by the calling user (accounts:create)",
)
async def create_account(body: AccountCreate, request: Request, principal: Principal = Caller) -> Response:
    out = await accounts.create_account(
        services(request), principal, name=body.name, type=body.type, test=body.test
    )
    return json_response(out, 201)


@router.get(
    "/api/accounts/{accountId}",
    response_model=AccountOut,
    responses=ERRORS,
    summary="Read an account (accounts:read)",
)
async def get_account(accountId: str, request: Request, principal: Principal = Caller) -> Response:
    return json_response(await accounts.get_account(services(request), principal, accountId))


@router.put(
    "/api/accounts/{accountId}",
    response_model=AccountOut,
    responses=ERRORS,
    summary="Rename an account (accounts:update)",
)
async def update_account(
    accountId: str, body: AccountUpdate, request: Request, principal: Principal = Caller
) -> Response:
    return json_response(await accounts.update_account(services(request), principal, accountId, body.name))


@router.get(
    "/api/accounts/{accountId}/members",
    response_model=list[MemberOut],
    responses=ERRORS,
    summary="List members (accounts:read)",
)
async def list_members(accountId: str, request: Request, principal: Principal = Caller) -> Response:
    return json_response(await accounts.list_members(services(request), principal, accountId))


@router.post(
    "/api/accounts/{accountId}/members",
    response_model=MemberOut,
    status_code=201,
    responses=ERRORS,
    summary="Add a member with a role no stronger than yours (accounts:update)",
)
async def add_member(
    accountId: str, body: MemberAdd, request: Request, principal: Principal = Caller
) -> Response:
    return json_response(
        await accounts.add_member(services(request), principal, accountId, body.user, body.role), 201
    )


@router.delete(
    "/api/accounts/{accountId}/members/{userId}",
    status_code=204,
    responses=ERRORS,
    summary="Remove a member; the last account-owner cannot be removed (403 LAST_OWNER)",
)
async def remove_member(
    accountId: str, userId: str, request: Request, principal: Principal = Caller
) -> Response:
    await accounts.remove_member(services(request), principal, accountId, userId)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post(
    "/api/accounts/{accountId}/api-keys",
    response_model=ApiKeyOut,
    status_code=201,
    responses=ERRORS,
    summary="Create an API key; the secret is in this answer only (api-keys:create)",
)
async def create_api_key(
    accountId: str, body: ApiKeyCreate, request: Request, principal: Principal = Caller
) -> Response:
    return json_response(
        await api_keys.create(services(request), principal, accountId, body.name, body.role), 201
    )


@router.get(
    "/api/accounts/{accountId}/api-keys",
    response_model=list[ApiKeyOut],
    responses=ERRORS,
    summary="List API keys, without secrets (api-keys:list)",
)
async def list_api_keys(accountId: str, request: Request, principal: Principal = Caller) -> Response:
    return json_response(await api_keys.list_keys(services(request), principal, accountId))


@router.put(
    "/api/accounts/{accountId}/api-keys/{name}",
    response_model=ApiKeyOut,
    responses=ERRORS,
    summary="Enable or disable an API key (api-keys:update); a disabled key fails at once",
)
async def update_api_key(
    accountId: str, name: str, body: ApiKeyUpdate, request: Request, principal: Principal = Caller
) -> Response:
    return json_response(await api_keys.set_enabled(services(request), principal, accountId, name, body.enabled))


@router.delete(
    "/api/accounts/{accountId}/api-keys/{name}",
    status_code=204,
    responses=ERRORS,
    summary="Delete an API key (api-keys:update)",
)
async def delete_api_key(
    accountId: str, name: str, request: Request, principal: Principal = Caller
) -> Response:
    await api_keys.delete(services(request), principal, accountId, name)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


ACCOUNT_PARAMS = ("account", "accountid")  # query names, compared by their letters only
PERMISSION_HEADER = "x-keyturn-permission"


def named_accounts(request: Request, *more: str | None) -> list[str]:
    """Every account the request names as its target: ``?account=``/``?accountId=``, ``X-Keyturn-Account``,
    and the body's ``accountId`` (``more``). Each binds the decision, whoever the principal is."""
    # Any spelling a framework might bind to "account" counts (ACCOUNTID, account_id, account[]), so an
    # upstream that reads it case- or punctuation-insensitively can never see another account than we decided.
    names = [v for k, v in request.query_params.multi_items() if _letters(k) in ACCOUNT_PARAMS]
    names += request.headers.getlist(ACCOUNT_HEADER) + [m for m in more if m is not None]
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


def _verdict_body(principal: Principal, verdict: access.Verdict) -> dict[str, Any]:
    who = access.describe(principal)
    if principal.kind == "user":
        who["accountId"], who["role"] = verdict.account_id, verdict.role
    return {"allowed": verdict.allowed, "principal": who, "reason": verdict.reason, "accountId": verdict.account_id}


@decision_router.post(
    "/api/authorize",
    response_model=AuthorizeOut,
    responses={**ERRORS, 403: {"model": AuthorizeOut, "description": "Not allowed, with the reason"}},
    summary="Decision for other services: may the forwarded credential do `permission` on `accountId`?",
)
async def authorize(body: AuthorizeIn, request: Request) -> Response:
    """200 ``allowed: true`` or 403 ``allowed: false`` with the reason. The account may be named in the body
    (``accountId``), the query or ``X-Keyturn-Account``; it binds API keys and credentials as it binds users."""
    principal = await decision_principal(request)
    verdict = await access.authorize(services(request), principal, body.permission,
                                     named_accounts(request, body.accountId))
    return json_response(_verdict_body(principal, verdict), 200 if verdict.allowed else 403)


@decision_router.get(
    "/auth/forward",
    status_code=200,
    responses={401: ERRORS[401], 403: ERRORS[403]},
    summary="Forward-auth for gateways (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz)",
)
async def forward_auth(request: Request) -> Response:
    """200 with ``X-Keyturn-*`` identity headers, else 401/403 only (a gateway treats anything else as an
    error). The permission comes from ``X-Keyturn-Permission`` or ``?permission=``; the target account from
    ``?account=``, ``?accountId=`` or ``X-Keyturn-Account`` for every kind of principal (default: the key's or
    credential's own, a user's individual account). ``X-Keyturn-Account`` in a 200 is the account decided on."""
    ctx = services(request)
    try:
        principal = await decision_principal(request)
    except ApiError as exc:  # ambiguous or malformed headers: still only a 401 for the gateway
        raise InvalidToken(exc.message) from None
    try:
        verdict = await access.authorize(ctx, principal, permission_named(request), named_accounts(request))
    except ApiError as exc:
        return json_response({"allowed": False, "reason": exc.message}, 403)
    if not verdict.allowed:
        return json_response({"allowed": False, "reason": verdict.reason}, 403)
    headers = {"X-Keyturn-Subject": principal.id, "X-Keyturn-Principal-Kind": principal.kind}
    if verdict.account_id:
        headers["X-Keyturn-Account"] = verdict.account_id
    if verdict.role:
        headers["X-Keyturn-Role"] = verdict.role
    if principal.client_id:
        headers["X-Keyturn-Client-Id"] = principal.client_id
    return json_response({"allowed": True, "principal": access.describe(principal)}, 200, headers)
