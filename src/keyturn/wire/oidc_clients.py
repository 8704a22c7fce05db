"""An OIDC relying party as registered (OpenID Connect Dynamic Client Registration 1.0 §2 names): a
confidential client's ``client_secret`` is in the create answer only, and absent elsewhere."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from keyturn.core.models import Client
from keyturn.wire.common import Ok, absent


class ClientOut(BaseModel):
    client_id: str
    name: str
    type: Literal["public", "confidential"]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    allowed_origins: list[str]
    first_party: bool
    scope: str
    grant_types: list[str]
    refresh_tokens: bool
    revoke_refresh_on_logout: bool
    id_token_signed_response_alg: str
    token_endpoint_auth_method: str
    dpop_bound_access_tokens: bool = False
    require_pushed_authorization_requests: bool = Field(
        False, description="RFC 9126 §5: authorization requests must be pushed to the PAR endpoint first")
    fapi2: bool = Field(False, description="Held to the FAPI 2.0 Security Profile by its own flag "
                        "(KEYTURN_FAPI2 holds every OIDC client to it whatever this says; docs/fapi2.md)")
    client_secret: str | None = Field(None, exclude_if=absent,
                                      description="Confidential clients: in the create answer only")
    # RFC 7591 §2 / OIDC Registration §2 informational metadata, when registered (absent otherwise)
    client_uri: str | None = Field(None, exclude_if=absent)
    logo_uri: str | None = Field(None, exclude_if=absent)
    tos_uri: str | None = Field(None, exclude_if=absent)
    policy_uri: str | None = Field(None, exclude_if=absent)
    contacts: list[str] | None = Field(None, exclude_if=absent)
    software_id: str | None = Field(None, exclude_if=absent)
    software_version: str | None = Field(None, exclude_if=absent)
    application_type: str | None = Field(None, exclude_if=absent)
    # private_key_jwt (RFC 7523): the client's public keys, and the one alg it registered, if any
    jwks: dict[str, Any] | None = Field(None, exclude_if=absent)
    jwks_uri: str | None = Field(None, exclude_if=absent, description="Where the client publishes its keys")
    token_endpoint_auth_signing_alg: str | None = Field(None, exclude_if=absent)
    # RFC 8705 (docs/fapi2.md), when registered
    tls_client_auth_subject_dn: str | None = Field(None, exclude_if=absent)
    tls_client_certificate_bound_access_tokens: bool | None = Field(None, exclude_if=absent)

    @classmethod
    def of(cls, client: Client, secret: str | None = None) -> ClientOut:
        return cls(
            client_id=client.client_id, name=client.name,
            type="public" if client.is_public else "confidential",
            redirect_uris=list(client.redirect_uris), post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            allowed_origins=list(client.allowed_origins), first_party=client.first_party, scope=client.scope,
            grant_types=list(client.grant_types), refresh_tokens=client.refresh_enabled,
            revoke_refresh_on_logout=client.revoke_refresh_on_logout,
            id_token_signed_response_alg=client.id_token_alg or "RS256",
            token_endpoint_auth_method=client.auth_method or ("none" if client.is_public else "client_secret_basic"),
            dpop_bound_access_tokens=client.dpop_bound_access_tokens,
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            fapi2=client.fapi2, client_secret=secret,
            **{k: v for k, v in (client.registered_metadata or {}).items() if k in INFO_FIELDS})


INFO_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts", "software_id", "software_version",
               "application_type", "jwks", "jwks_uri", "token_endpoint_auth_signing_alg", "tls_client_auth_subject_dn",
               "tls_client_certificate_bound_access_tokens")


class ClientEnvelope(Ok[ClientOut]):
    pass


class ClientListEnvelope(Ok[list[ClientOut]]):
    pass
