"""Seed 000's credential API: ``/api/v2/credential`` (create, list, read, update, rotate, revoke)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from keyturn.core.models import Principal
from keyturn.services import credentials
from keyturn.web.auth import current_principal

router = APIRouter(prefix="/api/v2/credential", tags=["credentials"])


class ErrorOut(BaseModel):
    status: Literal["ERROR"] = "ERROR"
    error: str = Field(description="Machine-readable code, e.g. INVALID_SCOPE, PERMISSION_DENIED")
    message: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid input"},
    401: {"model": ErrorOut, "description": "Missing, invalid or expired access token"},
    403: {"model": ErrorOut, "description": "Authenticated but not allowed"},
    404: {"model": ErrorOut, "description": "No such credential (or not yours)"},
}


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(description="A name for the credential, e.g. my.app.cu", max_length=200)
    domain: StrictStr | None = Field(None, description="Space-separated allowed-origin patterns")
    scope: StrictStr | None = Field(None, description="Space-separated scopes, e.g. ALLOW_EXTERNAL_CHARGE")
    refresh: StrictStr | None = Field(None, description="Refresh-token lifetime (1d, 12h) or none")
    accountId: StrictStr | None = Field(None, description="Account the credential acts for (default: yours)")
    role: StrictStr | None = Field(None, description="Role on that account (default merchant-terminal)")
    redirect: StrictStr | None = Field(None, description="Space-separated redirect URIs for the code flow")


class CredentialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr | None = None
    domain: StrictStr | None = None
    scope: StrictStr | None = None
    status: StrictInt | None = Field(None, description="0 active, 1 disabled")


class CredentialOut(BaseModel):
    name: str
    domain: str
    scope: str
    ownerId: str | None
    accountId: str | None
    role: str | None
    prefix: str
    refresh: str | None
    type: int
    status: int
    username: str = Field(description="The client_id")
    password: str | None = Field(None, description="The client_secret: only in create and rotate responses")
    public: str | None
    groupId: int | None
    updatedAt: str | None
    createdAt: str | None
    expiration: str | None
    redirect: str | None


class CredentialEnvelope(BaseModel):
    status: Literal["OK"] = "OK"
    data: CredentialOut


class CredentialListEnvelope(BaseModel):
    status: Literal["OK"] = "OK"
    data: list[CredentialOut]


def _ok(data: Any) -> dict[str, Any]:
    return {"status": "OK", "data": data}


@router.post("", response_model=CredentialEnvelope, response_model_exclude_none=False, responses=ERRORS,
             summary="Create a credential (client_id = username, client_secret = password, shown once)")
async def create_credential(body: CredentialCreate, request: Request,
                            principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    return _ok(await credentials.create(request.app.state.ctx, principal, body.model_dump(exclude_unset=True)))


@router.get("", response_model=CredentialListEnvelope, responses=ERRORS, summary="List your credentials")
async def list_credentials(request: Request, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    return _ok(await credentials.list_owned(request.app.state.ctx, principal))


@router.get("/{client_id}", response_model=CredentialEnvelope, responses=ERRORS, summary="Read a credential")
async def get_credential(client_id: str, request: Request,
                         principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    return _ok(await credentials.get(request.app.state.ctx, principal, client_id))


@router.put("/{client_id}", response_model=CredentialEnvelope, responses=ERRORS,
            summary="Update name, domain, scope or status")
@router.patch("/{client_id}", response_model=CredentialEnvelope, responses=ERRORS, include_in_schema=False)
async def update_credential(client_id: str, body: CredentialUpdate, request: Request,
                            principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    return _ok(await credentials.update(request.app.state.ctx, principal, client_id,
                                        body.model_dump(exclude_unset=True)))


@router.post("/{client_id}/rotate", response_model=CredentialEnvelope, responses=ERRORS,
             summary="Rotate the secret; the old one works for the configured overlap")
async def rotate_credential(client_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    return _ok(await credentials.rotate_secret(request.app.state.ctx, principal, client_id))


@router.delete("/{client_id}", status_code=200, responses=ERRORS, summary="Revoke and delete a credential")
async def delete_credential(client_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    await credentials.revoke(request.app.state.ctx, principal, client_id)
    return {"status": "OK", "data": None}
