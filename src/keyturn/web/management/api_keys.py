"""An account's API keys (seed 001): ``/api/accounts/{accountId}/api-keys``; the secret is shown once.

Thin HTTP like keyturn.web.management.accounts: parse with pydantic, call a use case, answer with the
record's wire shape (keyturn.wire.api_keys, which the CLI prints too).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool, StrictStr
from starlette.responses import Response

from keyturn.core.errors import ApiError
from keyturn.core.models import Principal
from keyturn.services import api_keys
from keyturn.web.auth import current_principal
from keyturn.web.management.schemas import ACCESS_ERRORS as ERRORS
from keyturn.web.management.schemas import Patch, Strict, Word
from keyturn.web.responses import shape_response
from keyturn.web.routing import ManagementRoute
from keyturn.web.state import services
from keyturn.wire.api_keys import ApiKeyOut

router = APIRouter(tags=["access"], route_class=ManagementRoute)
Caller = Depends(current_principal)


RATE_LIMIT = ("Requests allowed: N/S (at most N in any S seconds, e.g. 100/60; past it 429 with Retry-After); "
              "none: no quota")


class ApiKeyCreate(Strict):
    name: Word
    role: Word = Field(description="A role no stronger than the caller's on the account")
    rateLimit: Word | None = Field(None, description=RATE_LIMIT)


class ApiKeyImport(ApiKeyCreate):
    key: Annotated[StrictStr, Field(max_length=1000)] = Field(
        description="The key another service issued: 20-256 characters of A-Z a-z 0-9 . _ ~ + / = -, no Keyturn "
        "prefix, at least 128 bits (e.g. 32 hex characters); stored as a digest, never shown again")


class ApiKeyUpdate(Strict):
    """Partial: an absent field is unchanged; null is refused."""

    enabled: Patch[StrictBool] = Field(None, description="false: the key fails at once")
    rateLimit: Patch[Word] = Field(None, description=RATE_LIMIT)


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
    issued = await api_keys.create(services(request), principal, accountId, body.name, body.role, body.rateLimit)
    return shape_response(ApiKeyOut.of(issued.record, issued.secret), 201)


@router.post(
    "/api/accounts/{accountId}/api-keys/import",
    response_model=ApiKeyOut,
    status_code=201,
    responses=ERRORS,
    summary="Import an API key another service issued, in its own format (api-keys:create); never echoed back",
)
async def import_api_key(
    accountId: str, body: ApiKeyImport, request: Request, principal: Principal = Caller
) -> Response:
    key = await api_keys.import_key(services(request), principal, accountId, body.name, body.role, body.key,
                                    body.rateLimit)
    return shape_response(ApiKeyOut.of(key), 201)


@router.get(
    "/api/accounts/{accountId}/api-keys",
    response_model=list[ApiKeyOut],
    responses=ERRORS,
    summary="List API keys, without secrets (api-keys:list)",
)
async def list_api_keys(accountId: str, request: Request, principal: Principal = Caller) -> Response:
    keys = await api_keys.list_keys(services(request), principal, accountId)
    return shape_response([ApiKeyOut.of(k) for k in keys])


@router.get(
    "/api/accounts/{accountId}/api-keys/{name}",
    response_model=ApiKeyOut,
    responses=ERRORS,
    summary="Read one API key's entry, without its secret (api-keys:list)",
)
async def get_api_key(accountId: str, name: str, request: Request, principal: Principal = Caller) -> Response:
    return shape_response(ApiKeyOut.of(await api_keys.get_key(services(request), principal, accountId, name)))


@router.put(
    "/api/accounts/{accountId}/api-keys/{name}",
    response_model=ApiKeyOut,
    responses=ERRORS,
    summary="Enable or disable an API key, or set its rate limit (api-keys:update); a disabled key fails at once",
)
async def update_api_key(
    accountId: str, name: str, body: ApiKeyUpdate, request: Request, principal: Principal = Caller
) -> Response:
    ctx = services(request)
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise ApiError(400, "INVALID_REQUEST", "send enabled or rateLimit")
    if "rateLimit" in fields:
        key = await api_keys.set_rate_limit(ctx, principal, accountId, name, fields["rateLimit"])
    if "enabled" in fields:
        key = await api_keys.set_enabled(ctx, principal, accountId, name, fields["enabled"])
    return shape_response(ApiKeyOut.of(key))


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
