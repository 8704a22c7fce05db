"""Seed 000's credential API: ``/api/v2/credential`` (create, list, read, update, rotate, revoke) and the
catalogue of scopes the caller may grant (``/api/v2/credential/grant/list``, TropiPay's path).

Every answer is built as its documented model (keyturn.wire.credentials, which the CLI prints too) and sent
``Cache-Control: no-store`` (create and rotate carry the secret, R38). Update semantics: docs/management-api.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictBool, StrictInt
from starlette.responses import Response

from keyturn.core.models import Principal
from keyturn.services import credentials
from keyturn.services.oidc.metadata import uses_rfc7591
from keyturn.web.auth import current_principal
from keyturn.web.management.schemas import Id, Name, Patch, Strict, Text, Word
from keyturn.web.responses import error_answers, shape_response
from keyturn.web.routing import ManagementRoute
from keyturn.web.state import services
from keyturn.wire.credentials import (
    CredentialEnvelope,
    CredentialListEnvelope,
    CredentialOut,
    DeletedEnvelope,
    GrantableScope,
    GrantListEnvelope,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v2/credential", tags=["credentials"], route_class=ManagementRoute)

ERRORS = error_answers({
    400: "Invalid input (INVALID_REQUEST, INVALID_SCOPE, INVALID_DOMAIN…)",
    401: "Missing, invalid or expired access token",
    403: "Authenticated but not allowed",
    404: "No such credential or account (or not yours)",
})
CREATE_ERRORS = {**ERRORS, **error_answers({429: "Too many credentials created by this user this hour (Retry-After)"})}


class CredentialCreate(Strict):
    name: Name | None = Field(None, description="A name for the credential, e.g. my.app.cu (required, or its "
                              "RFC 7591 name client_name)")
    domain: Text | None = Field(None, description="Space-separated allowed-origin patterns and caller addresses "
                                "(203.0.113.0/24, 2001:db8::/32: only from these may it call /token); empty or "
                                "null: no browser origin, any address (docs/domain-patterns.md)")
    scope: Text | None = Field(None, description="Space-separated scopes from GET /api/v2/credential/grant/list, "
                               "e.g. ALLOW_EXTERNAL_CHARGE; empty or null: no scope (the role alone)")
    refresh: Word | None = Field(None, description="Refresh-token lifetime (1d, 12h) or none; null: none; "
                                 "absent: the server default")
    accountId: Id | None = Field(None, description="Account the credential acts for (default: yours)")
    role: Word | None = Field(None, description="Role on that account (default merchant-terminal)")
    redirect: Text | None = Field(None, description="Space-separated redirect URIs for the code flow")
    rateLimit: Word | None = Field(None, description="Token requests allowed: N/S (at most N in any S seconds, "
                                   "e.g. 100/60; past it 429 with Retry-After); null or none: no quota")
    expiration: Word | None = Field(None, description="When the credential expires: an ISO 8601 date-time with an "
                                    "offset, in the future (e.g. 2027-01-31T23:59:59Z); past it the credential "
                                    "gets invalid_client and its refresh tokens stop working; null: never",
                                    json_schema_extra={"format": "date-time"})
    # RFC 7591 §2 names, beside the seed's (one name per field); with any of them the answer also carries
    # client_id and client_secret (services/oidc/metadata.py credential_fields, docs/management-api.md)
    client_name: Name | None = Field(None, description="RFC 7591 name of `name`")
    redirect_uris: list[Annotated[Text, Field(max_length=2000)]] | None = Field(
        None, max_length=50, description="RFC 7591 name of `redirect` (as a list)")
    grant_types: list[Word] | None = Field(None, max_length=10, description="client_credentials, and "
                                           "refresh_token (a refresh lifetime) and authorization_code (with "
                                           "redirect URIs) if wanted")
    token_endpoint_auth_method: Word | None = Field(None, description="client_secret_basic (default), "
                                                    "client_secret_post, private_key_jwt (RFC 7523, with jwks or "
                                                    "jwks_uri; no secret) or tls_client_auth (RFC 8705, with "
                                                    "tls_client_auth_subject_dn); the credential then "
                                                    "authenticates so only")
    tls_client_auth_subject_dn: Text | None = Field(None, description="RFC 8705 §2.1.2: the subject DN (RFC 4514) "
                                                    "of the client certificate, with tls_client_auth")
    tls_client_certificate_bound_access_tokens: StrictBool | None = Field(
        None, description="RFC 8705 §3: access tokens bound to the client certificate (cnf.x5t#S256)")
    jwks: dict[str, Any] | None = Field(None, description='private_key_jwt: {"keys": [...]}, 1 to 10 public '
                                        "EC/RSA/OKP keys (RFC 7517 §5)")
    jwks_uri: Text | None = Field(None, description="private_key_jwt, instead of jwks: the https URL of the "
                                  "client's JWK Set; its host must be on KEYTURN_JWKS_URI_ALLOWED_HOSTS")
    token_endpoint_auth_signing_alg: Word | None = Field(None, description="private_key_jwt: the one alg its "
                                                         "assertions use (ES256, ES384, PS256, PS384, EdDSA, RS256)")


class CredentialUpdate(Strict):
    """Partial: an absent field is unchanged; null is refused (400) for every field."""

    name: Patch[Name] = Field(None, description="New name")
    domain: Patch[Text] = Field(None, description="Replaces the allowed-origin patterns and caller addresses; "
                                "\"\" means no browser origin at all and any address")
    scope: Patch[Text] = Field(None, description="Replaces the scope: at least one scope from the catalogue")
    status: Patch[StrictInt] = Field(None, ge=0, le=1, description="0 active, 1 disabled")
    rateLimit: Patch[Word] = Field(None, description="Token requests allowed: N/S (e.g. 100/60); \"none\" removes "
                                   "the quota")
    expiration: Patch[Word] = Field(None, description="New expiration: an ISO 8601 date-time with an offset, in the "
                                    "future; \"none\" removes it (never expires)")
    # RFC 7591 §2 / RFC 7523: upgrade to a key pair (the secret is dropped), or replace a keyed credential's keys
    token_endpoint_auth_method: Patch[Word] = Field(None, description="private_key_jwt only (with jwks or "
                                                    "jwks_uri): the credential's secret stops working")
    jwks: Patch[dict[str, Any]] = Field(None, description='private_key_jwt: {"keys": [...]} (replaces the keys)')
    jwks_uri: Patch[Text] = Field(None, description="private_key_jwt: where its keys are published (replaces them)")
    token_endpoint_auth_signing_alg: Patch[Word] = Field(None, description="private_key_jwt: the one alg its "
                                                         "assertions use")


@router.post("", response_model=CredentialEnvelope, responses=CREATE_ERRORS,
             summary="Create a credential (client_id = username, client_secret = password, shown once)")
async def create_credential(body: CredentialCreate, request: Request,
                            principal: Principal = Depends(current_principal)) -> Response:
    fields = body.model_dump(exclude_unset=True)
    issued = await credentials.create(services(request), principal, fields)
    out = CredentialOut.of(issued.record, issued.secret, rfc7591=uses_rfc7591(fields))
    return shape_response(CredentialEnvelope(data=out))


@router.get("", response_model=CredentialListEnvelope, responses=ERRORS, summary="List your credentials")
async def list_credentials(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    owned = await credentials.list_owned(services(request), principal)
    return shape_response(CredentialListEnvelope(data=[CredentialOut.of(c) for c in owned]))


# Declared before /{client_id}, which would otherwise match /scopes.
@router.get("/grant/list", response_model=GrantListEnvelope, responses=ERRORS,
            summary="The scopes you may grant to a credential on an account (needs api-keys:create there)")
@router.get("/scopes", response_model=GrantListEnvelope, responses=ERRORS,
            summary="Alias of /api/v2/credential/grant/list")
async def grantable_scopes(
    request: Request,
    accountId: Id | None = Query(None, description="The account (default: your selected or individual one)"),
    role: Word | None = Query(None, description="Only the permission scopes this role holds (the credential's "
                              "role; a credential's default is merchant-terminal)"),
    principal: Principal = Depends(current_principal),
) -> Response:
    items = await credentials.grantable_scopes(services(request), principal, accountId, role)
    return shape_response(GrantListEnvelope(data=[GrantableScope.of(g) for g in items]))


@router.get("/{client_id}", response_model=CredentialEnvelope, responses=ERRORS, summary="Read a credential")
async def get_credential(client_id: str, request: Request,
                         principal: Principal = Depends(current_principal)) -> Response:
    client = await credentials.get(services(request), principal, client_id)
    return shape_response(CredentialEnvelope(data=CredentialOut.of(client)))


@router.put("/{client_id}", response_model=CredentialEnvelope, responses=ERRORS,
            summary="Update name, domain, scope, status, rateLimit or expiration (partial: absent unchanged; "
                    "null is 400)")
@router.patch("/{client_id}", response_model=CredentialEnvelope, responses=ERRORS,
              summary="Same as PUT: a partial update")
async def update_credential(client_id: str, body: CredentialUpdate, request: Request,
                            principal: Principal = Depends(current_principal)) -> Response:
    fields = body.model_dump(exclude_unset=True)
    client = await credentials.update(services(request), principal, client_id, fields)
    return shape_response(CredentialEnvelope(data=CredentialOut.of(client, rfc7591=uses_rfc7591(fields))))


@router.post("/{client_id}/rotate", response_model=CredentialEnvelope, responses=ERRORS,
             summary="Rotate the secret; the old one works for the configured overlap")
async def rotate_credential(client_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Response:
    issued = await credentials.rotate_secret(services(request), principal, client_id)
    return shape_response(CredentialEnvelope(data=CredentialOut.of(issued.record, issued.secret)))


@router.delete("/{client_id}", status_code=200, response_model=DeletedEnvelope, responses=ERRORS,
               summary="Revoke and delete a credential")
async def delete_credential(client_id: str, request: Request,
                            principal: Principal = Depends(current_principal)) -> Response:
    await credentials.revoke(services(request), principal, client_id)
    return shape_response(DeletedEnvelope())
