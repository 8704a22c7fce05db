"""Seed 000's credential (§1.3.1: ``username`` is the client_id, ``password`` the secret, shown once), plus
``accountId``, ``role`` and ``scope``; and the catalogue of scopes a user may grant."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from keyturn.core.models import Client, Grantable
from keyturn.wire.common import Ok, iso


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

    @classmethod
    def of(cls, client: Client, secret: str | None = None) -> CredentialOut:
        """``secret``: the plaintext, when it was just issued; otherwise ``password`` is null."""
        return cls(
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
