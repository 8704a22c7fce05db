"""Accounts, memberships and members (seed 001): ``/api/account-memberships``, ``/api/users/{id}/…``,
``/api/accounts/…``.

Thin HTTP: parse with pydantic (unknown fields are refused, so ids, audit fields, flags and
subscriptions cannot be mass-assigned), call a use case, answer with the record's wire shape
(keyturn.wire.accounts, the route's response model). Every route authenticates through
:func:`keyturn.web.auth.current_principal`. Flags and subscriptions have routes of their own, for the
operator only (the use case checks: services/accounts.py ``change_features``). Adding a member takes
Keyturn's ``{user, role}`` or Centrapay's ``{userId, role}``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool, model_validator
from starlette.responses import Response

from keyturn.core import paths
from keyturn.core.models import Principal
from keyturn.services import accounts
from keyturn.web.auth import current_principal
from keyturn.web.management.schemas import ACCESS_ERRORS as ERRORS
from keyturn.web.management.schemas import Id, Name, Strict, UserRef, Word
from keyturn.web.responses import error_answers, shape_response
from keyturn.web.routing import ManagementRoute
from keyturn.web.state import services
from keyturn.wire.accounts import AccountOut, MemberOut, MembershipOut

router = APIRouter(tags=["access"], route_class=ManagementRoute)
Caller = Depends(current_principal)


class AccountCreate(Strict):
    name: Name = Field(description="Display name")
    type: Literal["org", "individual"] = Field("org", description="org (default) or individual")
    test: StrictBool = Field(False, description="A test account (its API keys start kt_test_)")


class AccountUpdate(Strict):
    """PUT replaces the one field a caller may change: name is required."""

    name: Name


class MemberAdd(Strict):
    """Exactly one of ``user`` (Keyturn's: any identifier) or ``userId`` (Centrapay's: the user's id)."""

    user: UserRef | None = Field(None, description="User id, email, phone number or username (or send userId)")
    userId: Id | None = Field(None, description="The user's id, as Centrapay sends it (or send user)")
    role: Word

    @model_validator(mode="after")
    def _one_user(self) -> MemberAdd:
        if (self.user is None) == (self.userId is None):
            raise ValueError("send exactly one of user or userId")
        return self


@router.get(
    paths.ACCOUNT_MEMBERSHIPS,
    response_model=list[MembershipOut],
    responses=ERRORS,
    summary="The caller's memberships (seed 001: X-Api-Key, or Authorization with or without Bearer)",
)
async def account_memberships(request: Request, principal: Principal = Caller) -> Response:
    return await account_memberships_endpoint(request)


async def account_memberships_endpoint(request: Request) -> Response:
    """The same, without dependency injection: what the lean front runs (web/server/fastpath.py)."""
    held = await accounts.memberships_of(services(request), await current_principal(request))
    return shape_response([MembershipOut.of(m) for m in held])


@router.get(
    "/api/users/{userId}/account-memberships",
    response_model=list[MembershipOut],
    responses=ERRORS,
    summary="A user's memberships (only the user themself; `me` works)",
)
async def user_memberships(userId: str, request: Request, principal: Principal = Caller) -> Response:
    held = await accounts.memberships_of_user(services(request), principal, userId)
    return shape_response([MembershipOut.of(m) for m in held])


@router.post(
    "/api/accounts",
    response_model=AccountOut,
    status_code=201,
    responses=ERRORS,
    summary="Create an account owned by the calling user (accounts:create)",
)
async def create_account(body: AccountCreate, request: Request, principal: Principal = Caller) -> Response:
    account = await accounts.create_account(
        services(request), principal, name=body.name, type=body.type, test=body.test
    )
    return shape_response(AccountOut.of(account), 201)


@router.get(
    "/api/accounts/{accountId}",
    response_model=AccountOut,
    responses=ERRORS,
    summary="Read an account (accounts:read)",
)
async def get_account(accountId: str, request: Request, principal: Principal = Caller) -> Response:
    return shape_response(AccountOut.of(await accounts.get_account(services(request), principal, accountId)))


@router.put(
    "/api/accounts/{accountId}",
    response_model=AccountOut,
    responses=ERRORS,
    summary="Rename an account (accounts:update)",
)
async def update_account(
    accountId: str, body: AccountUpdate, request: Request, principal: Principal = Caller
) -> Response:
    account = await accounts.update_account(services(request), principal, accountId, body.name)
    return shape_response(AccountOut.of(account))


OPERATOR_ERRORS = error_answers({
    400: "Invalid name (INVALID_REQUEST)",
    401: "Missing, malformed, expired or revoked credential",
    403: "Not the operator (needs keyturn:admin from keyturn-operator): an account's own owner cannot grant these",
    404: "No such account",
})


async def _features(request: Request, principal: Principal, account_id: str, kind: accounts.Feature,
                    name: str, add: bool) -> Response:
    account = await accounts.change_features(services(request), principal, account_id, kind,
                                             add=(name,) if add else (), remove=() if add else (name,))
    return shape_response(AccountOut.of(account))


@router.put("/api/accounts/{accountId}/flags/{flag}", response_model=AccountOut, responses=OPERATOR_ERRORS,
            summary="Give an account a flag, e.g. trusted-user (operator only; idempotent; audited)")
async def add_flag(accountId: str, flag: str, request: Request, principal: Principal = Caller) -> Response:
    return await _features(request, principal, accountId, "flag", flag, True)


@router.delete("/api/accounts/{accountId}/flags/{flag}", response_model=AccountOut, responses=OPERATOR_ERRORS,
               summary="Take a flag from an account (operator only; idempotent; audited)")
async def remove_flag(accountId: str, flag: str, request: Request, principal: Principal = Caller) -> Response:
    return await _features(request, principal, accountId, "flag", flag, False)


@router.put("/api/accounts/{accountId}/subscriptions/{subscription}", response_model=AccountOut,
            responses=OPERATOR_ERRORS,
            summary="Give an account a subscription, e.g. external-asset-issuer (operator only; idempotent; audited)")
async def add_subscription(accountId: str, subscription: str, request: Request,
                           principal: Principal = Caller) -> Response:
    return await _features(request, principal, accountId, "subscription", subscription, True)


@router.delete("/api/accounts/{accountId}/subscriptions/{subscription}", response_model=AccountOut,
               responses=OPERATOR_ERRORS,
               summary="End an account's subscription (operator only; idempotent; audited)")
async def remove_subscription(accountId: str, subscription: str, request: Request,
                              principal: Principal = Caller) -> Response:
    return await _features(request, principal, accountId, "subscription", subscription, False)


@router.get(
    "/api/accounts/{accountId}/members",
    response_model=list[MemberOut],
    responses=ERRORS,
    summary="List members (accounts:read)",
)
async def list_members(accountId: str, request: Request, principal: Principal = Caller) -> Response:
    members = await accounts.list_members(services(request), principal, accountId)
    return shape_response([MemberOut.of(m) for m in members])


@router.post(
    "/api/accounts/{accountId}/members",
    response_model=MemberOut,
    status_code=201,
    responses=ERRORS,
    summary="Add a member ({user, role} or Centrapay's {userId, role}) with a role no stronger than yours "
            "(accounts:update)",
)
async def add_member(
    accountId: str, body: MemberAdd, request: Request, principal: Principal = Caller
) -> Response:
    if body.userId is not None:
        member = await accounts.add_member(services(request), principal, accountId, body.userId, body.role,
                                           by_id=True)
    else:
        assert body.user is not None  # MemberAdd: exactly one
        member = await accounts.add_member(services(request), principal, accountId, body.user, body.role)
    return shape_response(MemberOut.of(member), 201)


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
