"""Who may do what: the policy (loaded once per process), the subject of a principal, and mint checks.

The decision itself is :func:`keyturn.core.policy.decide` (pure); this module loads the facts it
needs (the principal's roles and the accounts they are held on) and turns a refusal into the
management API's errors: 404 when the caller has no relation to the account (so account A's key
cannot even learn that account B exists, OWASP API1), 403 naming the missing permission otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.errors import ApiError, InsufficientScope, forbidden, not_found
from keyturn.core.models import Account, Principal
from keyturn.core.policy import (
    AccountFacts,
    Decision,
    Holding,
    Subject,
    decide,
    scope_permissions,
)
from keyturn.services.context import Services
from keyturn.services.tokens import OPERATOR_CLIENT_ID
from keyturn.storage import accounts as accounts_repo

ADMIN_SCOPE = "keyturn:admin"


def require_operator(principal: Principal) -> None:
    """The platform operator only: an access token Keyturn's operator client minted (``keyturn tokens issue
    --scope keyturn:admin``), else 403 PERMISSION_DENIED naming ``keyturn:admin``. No account role, however
    strong, makes a principal the operator."""
    if (principal.kind != "user" or principal.client_id != OPERATOR_CLIENT_ID
            or ADMIN_SCOPE not in (principal.scopes or ())):
        raise forbidden(ADMIN_SCOPE)


def facts(account: Account) -> AccountFacts:
    return AccountFacts(account.id, account.type, frozenset(account.flags), frozenset(account.subscriptions))


async def subject_of(ctx: Services, conn: AsyncConnection, principal: Principal) -> Subject:
    """The roles a principal holds and the accounts they are held on; the token's scopes narrow.

    The subject's individual account (for requirements on ``account: individual``, docs/policy.md): a
    user's own — the one individual account among their holdings, as a user belongs to at most one and an
    individual account has exactly one member; an API key's or credential's bound account when that is an
    individual account (the key acts for its one member); else none.
    """
    if principal.kind == "user":
        holdings = tuple(
            Holding(facts(a), role) for a, role in await accounts_repo.holdings_of_user(conn, principal.id)
        )
        return Subject(holdings, principal.scopes, _individual(holdings))
    if not principal.account_id or not principal.role:
        return Subject((), principal.scopes)
    bound = principal.claims.get("account_facts")
    if not isinstance(bound, AccountFacts):
        account = await accounts_repo.get(conn, principal.account_id)
        if account is None:
            return Subject((), principal.scopes)
        bound = facts(account)
    scopes = principal.scopes if principal.kind == "credential" else None
    holdings = (Holding(bound, principal.role),)
    return Subject(holdings, scopes, _individual(holdings))


def _individual(holdings: tuple[Holding, ...]) -> AccountFacts | None:
    return next((h.account for h in holdings if h.account.type == "individual"), None)


async def decide_on(
    ctx: Services, conn: AsyncConnection, subject: Subject, permission: str, account_id: str
) -> Decision:
    """:func:`decide` on the account that owns the resource, with its facts loaded when a requirement looks
    at them (``account: target``) and the subject holds no role there."""
    return decide(ctx.policy, subject, permission, account_id,
                  await target_of(ctx, conn, subject, permission, account_id))


async def target_of(
    ctx: Services, conn: AsyncConnection, subject: Subject, permission: str, account_id: str
) -> AccountFacts | None:
    """The facts of the account owning the resource when ``permission`` needs them and the subject's holdings
    do not have them (None otherwise: decide() finds them there, or the permission does not look)."""
    perm = ctx.policy.permissions.get(permission)
    if perm is None or not perm.needs_target or any(h.account.id == account_id for h in subject.holdings):
        return None
    account = await accounts_repo.get(conn, account_id)
    return facts(account) if account is not None else None


def role_on(subject: Subject, account_id: str) -> str | None:
    return next((h.role for h in subject.holdings if h.account.id == account_id), None)


async def require(
    ctx: Services, conn: AsyncConnection, principal: Principal, permission: str, account_id: str
) -> tuple[Subject, Decision]:
    """Allow, or raise 404 (no relation to the account) / 403 (missing permission, named)."""
    subject = await subject_of(ctx, conn, principal)
    target = await target_of(ctx, conn, subject, permission, account_id)
    decision = decide(ctx.policy, subject, permission, account_id, target)
    if decision.allowed:
        return subject, decision
    if role_on(subject, account_id) is None:
        raise not_found("account")
    if subject.scopes is not None and decide(ctx.policy, replace(subject, scopes=None), permission,
                                             account_id, target).allowed:
        raise InsufficientScope(permission)  # RFC 6750 §3.1: the role grants it, the token's scope does not
    raise ApiError(403, "PERMISSION_DENIED", decision.reason)


def check_role_exists(ctx: Services, role: str) -> None:
    if ctx.policy.role(role) is None:
        known = ", ".join(sorted(ctx.policy.roles))
        raise ApiError(400, "INVALID_ROLE", f"unknown role {role} (known roles: {known})")


def check_may_assign(
    ctx: Services, subject: Subject, principal: Principal, account_id: str, role: str
) -> None:
    """Nobody gives a member, key or credential a role stronger than their own on that account."""
    policy = ctx.policy
    mine = role_on(subject, account_id)
    narrowed = scope_permissions(policy, principal.scopes)
    if mine is None or not policy.may_assign(mine, role, narrowed):
        raise ApiError(
            403,
            "ROLE_ABOVE_CALLER",
            f"role {role} holds permissions that your role {mine} on this account does not",
        )


async def check_can_mint(
    ctx: Services, conn: Any, creator: Principal, account_id: str | None, role: str, scope: str
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


def check_scope_within_role(ctx: Services, role: str, scope: str) -> None:
    policy = ctx.policy
    asked = {s for s in scope.split() if s in policy.permissions}
    beyond = sorted(asked - policy.permissions_of(role))
    if beyond:
        raise ApiError(400, "INVALID_SCOPE", f"scope {beyond[0]} is not a permission of role {role}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision endpoints' answer: may the principal act on ``account_id`` (with ``permission``)?"""

    allowed: bool
    reason: str
    account_id: str | None
    role: str | None


async def authorize(
    ctx: Services, principal: Principal, permission: str | None, named: Sequence[str]
) -> Verdict:
    """``POST /api/authorize`` and ``GET /auth/forward``: a "no" is a verdict, never an exception.

    ``named`` are the accounts the request names as the target, whichever way (query, header, body):
    they bind *every* principal (OWASP API1, R98). A key or credential bound to account A that names
    account B is decided on B, where it holds nothing (global ✸ permissions aside). Two different
    names are refused. Nothing named: the key's or credential's own account, a user's individual one.
    Without a permission, the principal must hold some role on a named account.
    """
    policy = ctx.policy
    if permission is not None and permission not in policy.permissions:
        raise ApiError(400, "INVALID_PERMISSION", f"unknown permission {permission[:100]}")
    targets = list(dict.fromkeys(named))
    if len(targets) > 1:
        return Verdict(False, "the request names more than one account", None, None)
    if targets and not is_account_id(targets[0]):
        return Verdict(False, "the named account is not an account id", None, None)
    async with ctx.engine.connect() as conn:
        account_id = targets[0] if targets else principal.account_id
        if account_id is None and principal.kind == "user":
            account_id = await accounts_repo.individual_account_of(conn, principal.id)
        subject = await subject_of(ctx, conn, principal)
        if account_id is None:
            return Verdict(False, "no account selected", None, None)
        role = role_on(subject, account_id)
        if permission is None:
            if role is None:
                return Verdict(False, f"no role on account {account_id}", account_id, None)
            return Verdict(True, f"role {role} on account {account_id}", account_id, role)
        d = await decide_on(ctx, conn, subject, permission, account_id)
    return Verdict(d.allowed, d.reason, account_id, d.role if d.allowed else role)


def is_account_id(value: str) -> bool:
    """Account ids are UUIDs we issued; anything else (NUL, surrogates, 1 KiB) never reaches the database."""
    return 0 < len(value) <= 64 and value.isascii() and value.isprintable()
