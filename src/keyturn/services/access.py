"""Who may mint what. (Extended by the access-model policy: roles, permissions, subset checks.)"""

from __future__ import annotations

from typing import Any

from keyturn.core.errors import ApiError
from keyturn.core.models import Principal
from keyturn.services.context import Context
from keyturn.storage import accounts as accounts_repo

KNOWN_ROLES = ("account-owner", "anon-consumer", "merchant-terminal")


async def check_can_mint(ctx: Context, conn: Any, creator: Principal, account_id: str | None, role: str,
                         scope: str) -> str:
    """A user may create a credential on an account they own, never with a role above their own.

    Returns the account id (default: the creator's individual account).
    """
    if creator.kind != "user":
        raise ApiError(403, "PERMISSION_DENIED", "only a user can create credentials")
    if account_id is None:
        account_id = await accounts_repo.individual_account_of(conn, creator.id)
        if account_id is None:
            raise ApiError(400, "INVALID_REQUEST", "accountId is required (the user has no individual account)")
    membership = await accounts_repo.membership(conn, account_id, creator.id)
    if membership is None:
        raise ApiError(403, "PERMISSION_DENIED", "not a member of this account")
    if membership.role != "account-owner":
        raise ApiError(403, "PERMISSION_DENIED", "missing permission api-keys:create")
    if role not in KNOWN_ROLES:
        raise ApiError(400, "INVALID_ROLE", f"unknown role {role}")
    return account_id
