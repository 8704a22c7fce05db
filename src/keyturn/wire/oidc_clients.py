"""An OIDC relying party as registered (OpenID Connect Dynamic Client Registration 1.0 §2 names): a
confidential client's ``client_secret`` is in the create answer only, and absent elsewhere."""

from __future__ import annotations

from typing import Literal

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
    require_pushed_authorization_requests: bool = Field(
        False, description="RFC 9126 §5: authorization requests must be pushed to the PAR endpoint first")
    client_secret: str | None = Field(None, exclude_if=absent,
                                      description="Confidential clients: in the create answer only")

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
            token_endpoint_auth_method="none" if client.is_public else "client_secret_basic",
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            client_secret=secret)


class ClientEnvelope(Ok[ClientOut]):
    pass


class ClientListEnvelope(Ok[list[ClientOut]]):
    pass
