"""Accounts, their members, and a caller's memberships (seed 001)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from keyturn.core.models import Account, Member, Membership
from keyturn.wire.common import iso


class MembershipOut(BaseModel):
    accountId: str
    accountName: str | None
    accountType: str | None
    role: str | None

    @classmethod
    def of(cls, m: Membership) -> MembershipOut:
        return cls(accountId=m.account_id, accountName=m.account_name, accountType=m.account_type, role=m.role)


class AccountOut(BaseModel):
    id: str
    name: str
    type: str
    test: bool
    flags: list[str]
    subscriptions: list[str]
    createdAt: str | None
    createdBy: str | None = Field(description="Who created it: user:…, api-key:…, credential:… or operator")
    modifiedAt: str | None
    modifiedBy: str | None

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(id=a.id, name=a.name, type=a.type, test=a.test, flags=list(a.flags),
                   subscriptions=list(a.subscriptions), createdAt=iso(a.created_at), createdBy=a.created_by,
                   modifiedAt=iso(a.updated_at), modifiedBy=a.updated_by)


class MemberOut(BaseModel):
    userId: str
    email: str | None
    preferredUsername: str | None
    role: str
    createdAt: str | None

    @classmethod
    def of(cls, m: Member) -> MemberOut:
        return cls(userId=m.user_id, email=m.email, preferredUsername=m.preferred_username, role=m.role,
                   createdAt=iso(m.created_at))
