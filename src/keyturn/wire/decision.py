"""The decision API's answers (seed 001): who the principal is, and whether it may act.

``POST /api/authorize`` answers :class:`AuthorizeOut`; ``GET /auth/forward`` answers a gateway, which reads its
status and ``X-Keyturn-*`` headers, with :class:`ForwardAllowed` or :class:`ForwardRefused`. Both routes document
these shapes in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from keyturn.core.models import Principal


class PrincipalOut(BaseModel):
    kind: Literal["user", "api_key", "credential"]
    id: str
    accountId: str | None
    role: str | None
    clientId: str | None

    @classmethod
    def of(cls, principal: Principal) -> PrincipalOut:
        """The principal with its own binding (a key's or credential's account and role)."""
        return cls(kind=principal.kind, id=principal.id, accountId=principal.account_id, role=principal.role,
                   clientId=principal.client_id)

    @classmethod
    def decided(cls, principal: Principal, account_id: str | None, role: str | None) -> PrincipalOut:
        """In a decision: a user is bound to no account, so the account decided on and the role held there
        stand in; a key or credential keeps its own binding."""
        if principal.kind != "user":
            return cls.of(principal)
        return cls(kind=principal.kind, id=principal.id, accountId=account_id, role=role,
                   clientId=principal.client_id)


class AuthorizeOut(BaseModel):
    allowed: bool
    principal: PrincipalOut
    reason: str
    accountId: str | None


class ForwardAllowed(BaseModel):
    allowed: Literal[True] = True
    principal: PrincipalOut


class ForwardRefused(BaseModel):
    allowed: Literal[False] = False
    reason: str
