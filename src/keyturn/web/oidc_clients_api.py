"""Management API for OIDC clients: ``POST/GET /api/oidc-clients``.

Only the operator registers relying parties: the caller needs an access token the operator minted
(``keyturn tokens issue --scope keyturn:admin``), i.e. client ``keyturn-operator`` with scope ``keyturn:admin``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request

from keyturn.core.errors import forbidden
from keyturn.core.models import Principal
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.tokens import OPERATOR_CLIENT_ID
from keyturn.web.auth import current_principal

ADMIN_SCOPE = "keyturn:admin"
router = APIRouter(prefix="/api/oidc-clients", tags=["OIDC clients"])


class ClientIn(BaseModel):
    name: str = Field(..., max_length=200)
    type: str = Field("public", pattern="^(public|confidential)$")
    redirect_uris: list[str] = Field(..., min_length=1, max_length=50)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=50)
    allowed_origins: list[str] | None = Field(None, max_length=50)
    first_party: bool = False
    scope: str | None = Field(None, max_length=2048)
    refresh_tokens: bool = True
    revoke_refresh_on_logout: bool = True
    id_token_signed_response_alg: str | None = None


def require_operator(principal: Principal) -> None:
    if principal.kind != "user" or principal.client_id != OPERATOR_CLIENT_ID:
        raise forbidden(ADMIN_SCOPE)
    if ADMIN_SCOPE not in (principal.scopes or ()):
        raise forbidden(ADMIN_SCOPE)


@router.post("", status_code=201)
async def create_client(body: ClientIn, request: Request,
                        principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    require_operator(principal)
    data = await oidc_clients.create(
        request.app.state.ctx, name=body.name, public=body.type == "public", redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris, origins=body.allowed_origins,
        first_party=body.first_party, scope=body.scope, refresh_tokens=body.refresh_tokens,
        revoke_refresh_on_logout=body.revoke_refresh_on_logout, id_token_alg=body.id_token_signed_response_alg,
        actor=principal.resource_name)
    return {"status": "OK", "data": data}


@router.get("")
async def list_clients(request: Request, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    require_operator(principal)
    return {"status": "OK", "data": await oidc_clients.list_all(request.app.state.ctx)}

