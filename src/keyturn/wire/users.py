"""A user as ``keyturn users create`` prints it: who was created, and their individual account."""

from __future__ import annotations

from pydantic import BaseModel

from keyturn.core.models import User


class UserCreatedOut(BaseModel):
    # OIDC claim names (email, phone_number, preferred_username) as the user record has them; the account id in
    # the management API's camelCase, since that is where it is used next (members, API keys, credentials).
    id: str
    email: str | None
    phone_number: str | None
    preferred_username: str | None
    individualAccountId: str

    @classmethod
    def of(cls, user: User, individual_account_id: str) -> UserCreatedOut:
        return cls(id=user.id, email=user.email, phone_number=user.phone_number,
                   preferred_username=user.preferred_username, individualAccountId=individual_account_id)


class UnlockedOut(BaseModel):
    """``keyturn users unlock`` / ``POST /api/v2/users/unlock``: the sign-in locks cleared."""
    identifier: str
    removed: int  # throttle entries deleted (0: nothing was locked or counted)


class UnlockedEnvelope(BaseModel):
    data: UnlockedOut
