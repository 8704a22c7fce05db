"""Management API for OIDC clients: ``POST/GET /api/oidc-clients`` (create-only: no update endpoint).

Only the operator registers relying parties: the caller needs an access token the operator minted
(``keyturn tokens issue --scope keyturn:admin``), i.e. client ``keyturn-operator`` with scope ``keyturn:admin``.
Answers are built as their documented models (keyturn.wire.oidc_clients, which the CLI prints too) and sent
no-store (create carries the secret, R38).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.requests import Request
from starlette.responses import Response

from keyturn.core.errors import forbidden
from keyturn.core.jose import ClientIdTokenAlg
from keyturn.core.models import Principal
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.oidc import metadata as client_metadata
from keyturn.services.tokens import OPERATOR_CLIENT_ID
from keyturn.web.auth import current_principal
from keyturn.web.management.schemas import Name, Text, Word
from keyturn.web.responses import error_answers, shape_response
from keyturn.web.routing import ManagementRoute
from keyturn.web.state import services
from keyturn.wire.oidc_clients import ClientEnvelope, ClientListEnvelope, ClientOut

ADMIN_SCOPE = "keyturn:admin"
router = APIRouter(prefix="/api/oidc-clients", tags=["OIDC clients"], route_class=ManagementRoute)

ERRORS = error_answers({
    400: "Invalid input (INVALID_REQUEST, INVALID_CLIENT_METADATA, INVALID_REDIRECT_URI, INVALID_ORIGIN…)",
    401: "Missing, invalid or expired access token",
    403: "Not the operator (needs keyturn:admin from keyturn-operator)",
})
Uri = Annotated[Text, Field(max_length=2000)]


class ClientIn(BaseModel):
    """Keyturn's names or RFC 7591's (one name per field): every other name is refused with
    INVALID_CLIENT_METADATA naming it (docs/registration.md), never dropped."""

    model_config = ConfigDict(extra="allow")  # so that the parser names what it does not support

    name: Name | None = Field(None, description="Required unless client_name is sent")
    type: Literal["public", "confidential"] | None = Field(None, description="Default public; or "
                                                           "token_endpoint_auth_method")
    redirect_uris: list[Uri] = Field(..., min_length=1, max_length=50)
    post_logout_redirect_uris: list[Uri] = Field(default_factory=list, max_length=50)
    allowed_origins: list[Uri] | None = Field(None, max_length=50)
    first_party: StrictBool = False
    scope: Text | None = None
    refresh_tokens: StrictBool | None = Field(None, description="Default true; or grant_types")
    revoke_refresh_on_logout: StrictBool = True
    id_token_signed_response_alg: ClientIdTokenAlg | None = None  # core/jose.py CLIENT_ID_TOKEN_ALGS
    # RFC 7591 §2 names (services/oidc/metadata.py SUPPORTED checks their values)
    client_name: Name | None = None
    token_endpoint_auth_method: Word | None = Field(None, description="none, client_secret_basic, "
                                                    "client_secret_post, private_key_jwt (with jwks or jwks_uri), "
                                                    "tls_client_auth or self_signed_tls_client_auth (with jwks "
                                                    "whose keys carry x5c) (RFC 8705)")
    jwks: dict[str, Any] | None = Field(None, description='private_key_jwt: {"keys": [...]}, 1 to 10 public '
                                        "EC/RSA/OKP keys (RFC 7517 §5); self_signed_tls_client_auth: its "
                                        "certificates as the keys' x5c")
    jwks_uri: Uri | None = Field(None, description="private_key_jwt, instead of jwks: the https URL of the "
                                 "client's JWK Set; its host must be on KEYTURN_JWKS_URI_ALLOWED_HOSTS")
    token_endpoint_auth_signing_alg: Word | None = Field(None, description="private_key_jwt: the one alg its "
                                                         "assertions use (ES256, ES384, PS256, PS384, EdDSA, RS256)")
    grant_types: list[Word] | None = Field(None, max_length=10, description="authorization_code, refresh_token")
    response_types: list[Word] | None = Field(None, max_length=10, description="code")
    client_uri: Uri | None = None
    logo_uri: Uri | None = None
    tos_uri: Uri | None = None
    policy_uri: Uri | None = None
    contacts: list[Uri] | None = Field(None, max_length=50)
    software_id: Text | None = None
    software_version: Text | None = None
    application_type: Word | None = Field(None, description="web or native")
    dpop_bound_access_tokens: StrictBool = False  # RFC 9449 §5.2: token requests must carry a DPoP proof
    require_pushed_authorization_requests: StrictBool = False  # RFC 9126 §5
    # RFC 8705 §2.1.2: the subject DN of the client's certificate (with tls_client_auth), RFC 4514
    tls_client_auth_subject_dn: Text | None = None
    # RFC 8705 §3.4: access tokens bound to the client certificate (x5t#S256)
    tls_client_certificate_bound_access_tokens: StrictBool | None = None
    fapi2: StrictBool = Field(False, description=(
        "Hold this client to the FAPI 2.0 Security Profile (docs/fapi2.md): confidential, private_key_jwt or "
        "tls_client_auth, PAR required, DPoP- or certificate-bound tokens, PS256/ES256/EdDSA only"))


def require_operator(principal: Principal) -> None:
    if principal.kind != "user" or principal.client_id != OPERATOR_CLIENT_ID:
        raise forbidden(ADMIN_SCOPE)
    if ADMIN_SCOPE not in (principal.scopes or ()):
        raise forbidden(ADMIN_SCOPE)


@router.post("", status_code=201, response_model=ClientEnvelope, responses=ERRORS,
             summary="Register a relying party (operator only); a confidential client's secret is shown once")
async def create_client(body: ClientIn, request: Request,
                        principal: Principal = Depends(current_principal)) -> Response:
    require_operator(principal)
    ctx = services(request)
    meta = client_metadata.parse(body.model_dump(exclude_unset=True), dynamic=False,
                                 jwks_uri_hosts=ctx.settings.jwks_uri_allowed_hosts)
    issued = await oidc_clients.create_from(ctx, meta, actor=principal.resource_name)
    return shape_response(ClientEnvelope(data=ClientOut.of(issued.record, issued.secret)), 201)


@router.get("", response_model=ClientListEnvelope, responses=ERRORS, summary="List relying parties (operator only)")
async def list_clients(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    require_operator(principal)
    clients = await oidc_clients.list_all(services(request))
    return shape_response(ClientListEnvelope(data=[ClientOut.of(c) for c in clients]))
