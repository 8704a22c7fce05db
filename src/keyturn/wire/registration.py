"""RFC 7591 §3.2.1 / RFC 7592 §3 client information responses, and the operator's initial access tokens.

The client information carries every metadata value as registered (RFC 7591 §3.2.1: the server's values,
which may differ from what was asked), the registration access token (new in every answer: only its digest
is kept) and, when the client was just created, its secret (shown once).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from keyturn.core.models import GRANT_AUTHORIZATION_CODE, Client, InitialAccessToken
from keyturn.wire.common import absent, iso


class RegisteredClientOut(BaseModel):
    client_id: str
    client_secret: str | None = Field(None, exclude_if=absent, description="Confidential clients: on creation only")
    client_id_issued_at: int
    client_secret_expires_at: int | None = Field(None, exclude_if=absent, description="0: never expires")
    registration_access_token: str
    registration_client_uri: str
    client_name: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    token_endpoint_auth_method: str
    grant_types: list[str]
    response_types: list[str]
    scope: str
    id_token_signed_response_alg: str
    dpop_bound_access_tokens: bool = Field(False, description="RFC 9449 §5.2: token requests need a DPoP proof")

    @classmethod
    def of(cls, client: Client, *, registration_token: str, registration_client_uri: str,
           secret: str | None = None) -> dict[str, Any]:
        """The answer's JSON object: the fields above, then the informational metadata kept as registered."""
        kept = dict(client.registered_metadata or {})
        method = kept.pop("token_endpoint_auth_method", None) or ("none" if client.is_public else "client_secret_basic")
        shape = cls(
            client_id=client.client_id, client_secret=secret, client_id_issued_at=int(client.created_at),
            client_secret_expires_at=None if client.secret_digest is None else 0,  # none: public or private_key_jwt
            registration_access_token=registration_token,
            registration_client_uri=registration_client_uri, client_name=client.name,
            redirect_uris=list(client.redirect_uris), post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            token_endpoint_auth_method=method, grant_types=list(client.grant_types),
            response_types=["code"] if GRANT_AUTHORIZATION_CODE in client.grant_types else [],
            scope=client.scope, id_token_signed_response_alg=client.id_token_alg or "RS256",
            dpop_bound_access_tokens=client.dpop_bound_access_tokens)
        return {**shape.model_dump(mode="json"), **kept}


class InitialTokenOut(BaseModel):
    id: str = Field(description="Names the token for `keyturn registration initial-token revoke`")
    token: str | None = Field(None, exclude_if=absent, description="The initial access token: on issue only")
    created_at: str | None
    created_by: str | None
    expires_at: str | None
    uses_left: int | None = Field(description="Registrations it still allows; null: unlimited")
    revoked_at: str | None

    @classmethod
    def of(cls, record: InitialAccessToken, token: str | None = None) -> InitialTokenOut:
        return cls(id=record.id, token=token, created_at=iso(record.created_at), created_by=record.created_by,
                   expires_at=iso(record.expires_at), uses_left=record.uses_left, revoked_at=iso(record.revoked_at))
