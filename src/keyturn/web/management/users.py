"""Operator actions on users: ``POST /api/v2/users/unlock`` clears the sign-in locks of an identifier (issue 12
item 10; the CLI's ``keyturn users unlock``). Operator only (``keyturn tokens issue --scope keyturn:admin``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.models import Principal
from keyturn.services.oidc import login
from keyturn.web.auth import current_principal
from keyturn.web.management.oidc_clients import require_operator
from keyturn.web.management.schemas import Strict, Text
from keyturn.web.responses import error_answers, shape_response
from keyturn.web.routing import ManagementRoute
from keyturn.web.state import services
from keyturn.wire.users import UnlockedEnvelope, UnlockedOut

router = APIRouter(prefix="/api/v2/users", tags=["users"], route_class=ManagementRoute)

ERRORS = error_answers({
    400: "Invalid input (INVALID_REQUEST)",
    401: "Missing, invalid or expired access token",
    403: "Not the operator (needs keyturn:admin from keyturn-operator)",
})


class UnlockIn(Strict):
    identifier: Text = Field(..., min_length=1, max_length=320, description="Email or phone number as typed at login.")
    address: Text | None = Field(None, max_length=64, description="Also clear this source address's own lock.")


@router.post("/unlock", response_model=UnlockedEnvelope, responses=ERRORS,
             summary="Clear the sign-in locks of an identifier (operator only); audited as login.unlocked")
async def unlock_user(body: UnlockIn, request: Request, principal: Principal = Depends(current_principal)) -> Response:
    require_operator(principal)
    removed = await login.unlock(services(request), body.identifier, principal.resource_name, body.address)
    return shape_response(UnlockedEnvelope(data=UnlockedOut(identifier=body.identifier, removed=removed)))
