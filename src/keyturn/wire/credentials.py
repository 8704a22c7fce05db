"""Seed 000's credential (§1.3.1: ``username`` is the client_id, ``password`` the secret, shown once), plus
``accountId``, ``role`` and ``scope``; and the catalogue of scopes a user may grant."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from keyturn.core.models import Client, Grantable
from keyturn.wire.common import Ok, absent, iso


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
    rateLimit: str | None = Field(None, description="Token requests allowed: N/S (at most N in any S seconds); "
                                  "null: no quota")
    # RFC 7591 §3.2.1, when the request used RFC 7591 names (absent otherwise: the seed's shape)
    client_id: str | None = Field(None, exclude_if=absent, description="RFC 7591: the username")
    client_secret: str | None = Field(None, exclude_if=absent, description="RFC 7591: the password (create only)")
    client_id_issued_at: int | None = Field(None, exclude_if=absent)
    client_secret_expires_at: int | None = Field(None, exclude_if=absent,
                                                 description="The expiration (epoch seconds); 0: never")
    client_name: str | None = Field(None, exclude_if=absent)
    redirect_uris: list[str] | None = Field(None, exclude_if=absent)
    grant_types: list[str] | None = Field(None, exclude_if=absent)
    token_endpoint_auth_method: str | None = Field(None, exclude_if=absent)
    jwks: dict[str, Any] | None = Field(None, exclude_if=absent, description="private_key_jwt: its public keys")
    jwks_uri: str | None = Field(None, exclude_if=absent, description="private_key_jwt: where its keys are")
    token_endpoint_auth_signing_alg: str | None = Field(None, exclude_if=absent)

    @classmethod
    def of(cls, client: Client, secret: str | None = None, *, rfc7591: bool = False) -> CredentialOut:
        """``secret``: the plaintext, when it was just issued; otherwise ``password`` is null. ``rfc7591``: add
        the RFC 7591 §3.2.1 names (the request used them)."""
        rfc: dict[str, Any] = {} if not rfc7591 else dict(
            client_id=client.client_id, client_secret=secret, client_id_issued_at=int(client.created_at),
            client_secret_expires_at=int(client.expiration or 0), client_name=client.name,
            redirect_uris=list(client.redirect_uris), grant_types=list(client.grant_types),
            token_endpoint_auth_method=client.auth_method or "client_secret_basic",
            **{k: v for k, v in (client.registered_metadata or {}).items()
               if k in ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg")})
        return cls(**rfc,
            name=client.name, domain=client.domain or "", scope=client.scope, ownerId=client.owner_id,
            accountId=client.account_id, role=client.role, prefix="Bearer", refresh=client.refresh, type=1,
            status=client.status, username=client.client_id, password=secret, public=client.public_id,
            groupId=None, updatedAt=iso(client.updated_at), createdAt=iso(client.created_at),
            expiration=iso(client.expiration), redirect=" ".join(client.redirect_uris) or None,
            rateLimit=client.rate_limit)


class CredentialEnvelope(Ok[CredentialOut]):
    pass


class CredentialListEnvelope(Ok[list[CredentialOut]]):
    pass


class DeletedEnvelope(Ok[None]):
    data: None = None


class GrantableScope(BaseModel):
    name: str = Field(description="The scope string to put in a credential's `scope`")
    description: str
    source: Literal["capability", "permission", "operator"] = Field(
        description="capability: declared by the policy; permission: a policy permission you hold on the "
        "account; operator: added by KEYTURN_ALLOWED_SCOPES")

    @classmethod
    def of(cls, grantable: Grantable) -> GrantableScope:
        return cls(name=grantable.name, description=grantable.description, source=grantable.source)


class GrantListEnvelope(Ok[list[GrantableScope]]):
    pass
