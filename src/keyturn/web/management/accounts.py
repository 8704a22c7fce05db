"""Accounts, memberships and members (seed 001): ``/api/account-memberships``, ``/api/users/{id}/…``,
``/api/accounts/…``.

Thin HTTP: parse with pydantic (unknown fields are refused, so ids, audit fields, flags and
subscriptions cannot be mass-assigned), call a use case, answer with the record's wire shape
(keyturn.wire.accounts, the route's response model). Every route authenticates through
:func:`keyturn.web.auth.current_principal`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool
from starlette.responses import Response

from keyturn.core import paths
from keyturn.core.models import Principal
from keyturn.services import accounts
from keyturn.web.auth import current_principal
from keyturn.web.management.schemas import ACCESS_ERRORS as ERRORS
from keyturn.web.management.schemas import Name, Strict, UserRef, Word
from keyturn.web.responses import shape_response
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
    user: UserRef = Field(description="User id, email, phone number or username")
    role: Word


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
    summary="Add a member with a role no stronger than yours (accounts:update)",
)
async def add_member(
    accountId: str, body: MemberAdd, request: Request, principal: Principal = Caller
) -> Response:
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
