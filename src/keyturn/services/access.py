"""Who may do what: the policy (loaded once per process), the subject of a principal, and mint checks.

The decision itself is :func:`keyturn.core.policy.decide` (pure); this module loads the facts it
needs (the principal's roles and the accounts they are held on) and turns a refusal into the
management API's errors: 404 when the caller has no relation to the account (so account A's key
cannot even learn that account B exists, OWASP API1), 403 naming the missing permission otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import ApiError, not_found
from keyturn.core.models import Account, Principal
from keyturn.core.policy import (
    AccountFacts,
    Decision,
    Holding,
    Policy,
    PolicyError,
    Subject,
    decide,
    parse_policy,
    scope_permissions,
)
from keyturn.services.context import Context
from keyturn.settings import Settings
from keyturn.storage import accounts as accounts_repo

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policy" / "default.yaml"


def load_policy(settings: Settings) -> Policy:
    """Read and validate the policy file (``KEYTURN_POLICY_FILE``, default: the seed's table)."""
    path = settings.policy_file or DEFAULT_POLICY
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    return parse_policy(text, str(path))


def policy_of(ctx: Context) -> Policy:
    policy = ctx.extras.get("policy")
    if policy is None:
        policy = ctx.extras["policy"] = load_policy(ctx.settings)
    assert isinstance(policy, Policy)
    return policy


def facts(account: Account) -> AccountFacts:
    return AccountFacts(account.id, account.type, frozenset(account.flags), frozenset(account.subscriptions))


async def subject_of(ctx: Context, conn: AsyncConnection, principal: Principal) -> Subject:
    """The roles a principal holds and the accounts they are held on; the token's scopes narrow."""
    if principal.kind == "user":
        holdings = tuple(
            Holding(facts(a), role) for a, role in await accounts_repo.holdings_of_user(conn, principal.id)
        )
        return Subject(holdings, principal.scopes)
    if not principal.account_id or not principal.role:
        return Subject((), principal.scopes)
    bound = principal.claims.get("account_facts")
    if not isinstance(bound, AccountFacts):
        account = await accounts_repo.get(conn, principal.account_id)
        if account is None:
            return Subject((), principal.scopes)
        bound = facts(account)
    scopes = principal.scopes if principal.kind == "credential" else None
    return Subject((Holding(bound, principal.role),), scopes)


def role_on(subject: Subject, account_id: str) -> str | None:
    return next((h.role for h in subject.holdings if h.account.id == account_id), None)


async def require(
    ctx: Context, conn: AsyncConnection, principal: Principal, permission: str, account_id: str
) -> tuple[Subject, Decision]:
    """Allow, or raise 404 (no relation to the account) / 403 (missing permission, named)."""
    subject = await subject_of(ctx, conn, principal)
    decision = decide(policy_of(ctx), subject, permission, account_id)
    if decision.allowed:
        return subject, decision
    if role_on(subject, account_id) is None:
        raise not_found("account")
    raise ApiError(403, "PERMISSION_DENIED", decision.reason)


def check_role_exists(ctx: Context, role: str) -> None:
    if policy_of(ctx).role(role) is None:
        known = ", ".join(sorted(policy_of(ctx).roles))
        raise ApiError(400, "INVALID_ROLE", f"unknown role {role} (known roles: {known})")


def check_may_assign(
    ctx: Context, subject: Subject, principal: Principal, account_id: str, role: str
) -> None:
    """Nobody gives a member, key or credential a role stronger than their own on that account."""
    policy = policy_of(ctx)
    mine = role_on(subject, account_id)
    narrowed = scope_permissions(policy, principal.scopes)
    if mine is None or not policy.may_assign(mine, role, narrowed):
        raise ApiError(
            403,
            "ROLE_ABOVE_CALLER",
            f"role {role} holds permissions that your role {mine} on this account does not",
        )


async def check_can_mint(
    ctx: Context, conn: Any, creator: Principal, account_id: str | None, role: str, scope: str
) -> str:
    """A user may create a credential on an account where they hold ``api-keys:create``, with a role no
    stronger than their own; permission-naming scopes must lie within that role (scopes only narrow).

    Returns the account id (default: the creator's individual account).
    """
    if creator.kind != "user":
        raise ApiError(403, "PERMISSION_DENIED", "only a user can create credentials")
    check_role_exists(ctx, role)
    if account_id is None:
        account_id = creator.account_id or await accounts_repo.individual_account_of(conn, creator.id)
        if account_id is None:
            raise ApiError(
                400, "INVALID_REQUEST", "accountId is required (the user has no individual account)"
            )
    subject, _ = await require(ctx, conn, creator, "api-keys:create", account_id)
    check_may_assign(ctx, subject, creator, account_id, role)
    check_scope_within_role(ctx, role, scope)
    return account_id


def check_scope_within_role(ctx: Context, role: str, scope: str) -> None:
    policy = policy_of(ctx)
    asked = {s for s in scope.split() if s in policy.permissions}
    beyond = sorted(asked - policy.permissions_of(role))
    if beyond:
        raise ApiError(400, "INVALID_SCOPE", f"scope {beyond[0]} is not a permission of role {role}")


def describe(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "id": principal.id,
        "accountId": principal.account_id,
        "role": principal.role,
        "clientId": principal.client_id,
    }


async def authorize(
    ctx: Context, principal: Principal, permission: str, account_id: str | None
) -> dict[str, Any]:
    """The decision endpoint's use case: ``{allowed, principal, reason}``, never an exception for a "no".

    ``account_id`` is the account owning the resource; default: the principal's bound (key,
    credential) or selected (user, ``X-Keyturn-Account``) account, else the user's individual account.
    """
    policy = policy_of(ctx)
    if permission not in policy.permissions:
        raise ApiError(400, "INVALID_PERMISSION", f"unknown permission {permission}")
    async with ctx.engine.connect() as conn:
        if account_id is None:
            account_id = principal.account_id
            if account_id is None and principal.kind == "user":
                account_id = await accounts_repo.individual_account_of(conn, principal.id)
        subject = await subject_of(ctx, conn, principal)
    who = describe(principal)
    if account_id is None:
        return {"allowed": False, "principal": who, "reason": "no account selected", "accountId": None}
    if principal.kind == "user":
        who["accountId"], who["role"] = account_id, role_on(subject, account_id)
    d = decide(policy, subject, permission, account_id)
    return {"allowed": d.allowed, "principal": who, "reason": d.reason, "accountId": account_id}
