"""Accounts and memberships (seed 001): the permission boundary that owns resources.

A user belongs to at most one individual account, which has exactly one member; the last
holder of the owner role cannot be removed. ``actor``/``creator`` None means the operator (CLI).
Use cases return records; the wire shapes are ``keyturn.wire.accounts``.

Flags and subscriptions (Centrapay's trusted-user, external-asset-issuer: "obtained by contacting
Centrapay") are the platform operator's to grant, never an account owner's: :func:`change_features` takes
the operator (the CLI, or an access token of the operator client with ``keyturn:admin``), and each change
is audited (``account.flags_changed``, ``account.subscriptions_changed``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from keyturn.core.errors import ApiError, not_found
from keyturn.core.models import Account, Member, Membership, Principal
from keyturn.core.policy import decide
from keyturn.core.text import check_text, usable_id
from keyturn.services import access
from keyturn.services.context import Services
from keyturn.storage import accounts as accounts_repo
from keyturn.storage import audit
from keyturn.storage import users as users_repo

ACCOUNT_TYPES = ("org", "individual")
Feature = Literal["flag", "subscription"]
FEATURE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
MAX_FEATURES = 100  # flags (and, apart, subscriptions) one account may carry


def feature_names(kind: Feature, names: Any) -> tuple[str, ...]:
    """Flag or subscription names as the policy's conditions name them (``trusted-user``): 1-100 letters,
    digits and ``. _ : -``, starting with a letter or digit; repeated names count once."""
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not FEATURE_RE.fullmatch(name):
            raise ApiError(400, "INVALID_REQUEST",
                           f"a {kind} is 1-100 letters, digits or . _ : - (starting with a letter or digit)")
        if name not in out:
            out.append(name)
    if len(out) > MAX_FEATURES:
        raise ApiError(400, "INVALID_REQUEST", f"an account carries at most {MAX_FEATURES} {kind}s")
    return tuple(out)


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ApiError(400, "INVALID_REQUEST", "name must be 1-200 characters")
    return check_text("name", name).strip()


def _account_id(account_id: str) -> str:
    """Path ids never reach the database unless they could be ids (no NUL, controls or surrogates)."""
    if not usable_id(account_id):
        raise not_found("account")
    return account_id




async def memberships_of(ctx: Services, principal: Principal) -> list[Membership]:
    """``GET /api/account-memberships``: a key or credential has its one binding (the member is the key or
    credential itself); a user, all of theirs."""
    if principal.kind == "api_key":  # the hot path: what authentication cached (api_keys.authenticate), no query
        assert principal.account_id is not None and principal.role is not None  # a key is always bound
        c = principal.claims
        return [Membership(account_id=principal.account_id, user_id=principal.id, role=principal.role,
                           account_name=c["account_name"], account_type=c["account_type"])]
    async with ctx.engine.connect() as conn:
        if principal.kind == "credential":
            account = await accounts_repo.get(conn, principal.account_id) if principal.account_id else None
            if account is None or not principal.role:
                return []
            return [Membership(account_id=account.id, user_id=principal.id, role=principal.role,
                               account_name=account.name, account_type=account.type)]
        return await accounts_repo.memberships_of_user(conn, principal.id)


async def memberships_of_user(ctx: Services, principal: Principal, user_id: str) -> list[Membership]:
    """A user reads their own memberships; anyone else's are not found (no enumeration)."""
    if principal.kind != "user" or user_id not in (principal.id, "me"):
        raise not_found("user")
    return await memberships_of(ctx, principal)


async def create_account(
    ctx: Services,
    creator: Principal | None,
    *,
    name: Any,
    type: Any = "org",
    test: bool = False,
    owner_id: str | None = None,
    flags: tuple[str, ...] = (),
    subscriptions: tuple[str, ...] = (),
) -> Account:
    """Create an account whose owner is ``creator`` (HTTP) or ``owner_id`` (operator)."""
    name = _name(name)
    if type not in ACCOUNT_TYPES:
        raise ApiError(400, "INVALID_REQUEST", "type must be org or individual")
    now = ctx.clock()
    policy = ctx.policy
    actor = creator.resource_name if creator else "operator"
    account = Account(
        id=str(uuid.uuid4()),
        name=name,
        type=type,
        test=bool(test),
        flags=feature_names("flag", flags),
        subscriptions=feature_names("subscription", subscriptions),
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
    )
    try:
        async with ctx.engine.begin() as conn:
            if creator is not None:
                if creator.kind != "user":
                    raise ApiError(
                        403, "PERMISSION_DENIED", "only a user can create accounts (they own them)"
                    )
                subject = await access.subject_of(ctx, conn, creator)
                if not any(
                    decide(policy, subject, "accounts:create", h.account.id).allowed for h in subject.holdings
                ):
                    raise ApiError(403, "PERMISSION_DENIED", "missing permission accounts:create")
                owner_id = creator.id
            if type == "individual":
                if owner_id is None:
                    raise ApiError(
                        400, "INVALID_REQUEST", "an individual account needs its one member (--owner)"
                    )
                if await accounts_repo.individual_account_of(conn, owner_id) is not None:
                    raise ApiError(
                        409, "INDIVIDUAL_ACCOUNT_EXISTS", "the user already has an individual account"
                    )
            if owner_id is not None and await users_repo.get(conn, owner_id) is None:
                raise not_found("user")
            await accounts_repo.insert(conn, account)
            if owner_id is not None:
                await accounts_repo.add_member(conn, account.id, owner_id, policy.owner_role, now)
                if type == "individual":
                    await accounts_repo.link_individual(conn, owner_id, account.id)
            await audit.record(conn, "account.created", at=now, actor=actor, subject=account.id, type=type,
                               flags=list(account.flags), subscriptions=list(account.subscriptions))
    except IntegrityError:
        raise ApiError(409, "CONFLICT", "the account could not be created (conflict)") from None
    return account


async def get_account(ctx: Services, principal: Principal, account_id: str) -> Account:
    _account_id(account_id)
    async with ctx.engine.connect() as conn:
        await access.require(ctx, conn, principal, "accounts:read", account_id)
        account = await accounts_repo.get(conn, account_id)
    if account is None:
        raise not_found("account")
    return account


async def update_account(ctx: Services, principal: Principal, account_id: str, name: Any) -> Account:
    """Callers may rename; type, flags, subscriptions, ids and audit fields are the operator's."""
    _account_id(account_id)
    name = _name(name)
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        await access.require(ctx, conn, principal, "accounts:update", account_id)
        await accounts_repo.rename_account(conn, account_id, name, now, principal.resource_name)
        await audit.record(conn, "account.updated", at=now, actor=principal.resource_name, subject=account_id)
        account = await accounts_repo.get(conn, account_id)
    assert account is not None
    return account


async def change_features(
    ctx: Services, principal: Principal | None, account_id: str, kind: Feature, *,
    add: tuple[str, ...] = (), remove: tuple[str, ...] = (),
) -> Account:
    """Add and remove an account's flags or subscriptions (``principal`` None: the operator, via the CLI).

    The platform operator grants these (seed 001's Centrapay: "obtained by contacting Centrapay"), so an
    account's own owner, key or credential gets 403 whatever their role: only the operator client's access
    token with ``keyturn:admin`` may (access.require_operator). Adding a name the account carries, or
    removing one it does not, changes nothing and writes nothing; a change is audited with what was added
    and removed, and reaches cached API-key principals at once (their account facts)."""
    if principal is not None:
        access.require_operator(principal)
    _account_id(account_id)
    add, remove = feature_names(kind, add), feature_names(kind, remove)
    if set(add) & set(remove):
        raise ApiError(400, "INVALID_REQUEST", f"a {kind} cannot be both added and removed")
    now = ctx.clock()
    actor = principal.resource_name if principal else "operator"
    async with ctx.engine.begin() as conn:
        account = await accounts_repo.lock_account(conn, account_id)
        if account is None:
            raise not_found("account")
        current = account.flags if kind == "flag" else account.subscriptions
        kept = [n for n in current if n not in remove]
        added = [n for n in add if n not in current]
        changed = kept + added
        if changed == list(current):
            return account
        if len(changed) > MAX_FEATURES:
            raise ApiError(400, "INVALID_REQUEST", f"an account carries at most {MAX_FEATURES} {kind}s")
        column: Literal["flags", "subscriptions"] = "flags" if kind == "flag" else "subscriptions"
        await accounts_repo.set_features(conn, account_id, column, changed, now, actor)
        detail: dict[str, Any] = {"added": added, "removed": [n for n in current if n in remove], column: changed}
        await audit.record(conn, f"account.{column}_changed", at=now, actor=actor, subject=account_id, **detail)
        account = await accounts_repo.get(conn, account_id)
    assert account is not None
    ctx.changed("api_key")  # a key's cached principal carries its account's flags and subscriptions
    return account


async def list_members(ctx: Services, principal: Principal | None, account_id: str) -> list[Member]:
    _account_id(account_id)
    async with ctx.engine.connect() as conn:
        if principal is not None:
            await access.require(ctx, conn, principal, "accounts:read", account_id)
        return await accounts_repo.members_of_account(conn, account_id)


async def add_member(
    ctx: Services, principal: Principal | None, account_id: str, user_ref: str, role: str, *, by_id: bool = False
) -> Member:
    """Add a member (``user_ref``: id, email, phone or username; ``by_id``: the user's id only, Centrapay's
    ``userId``), never with a role above the caller's."""
    _account_id(account_id)
    check_text("user", user_ref)
    access.check_role_exists(ctx, check_text("role", role))
    now = ctx.clock()
    actor = principal.resource_name if principal else "operator"
    try:
        async with ctx.engine.begin() as conn:
            if principal is not None:
                subject, _ = await access.require(ctx, conn, principal, "accounts:update", account_id)
                access.check_may_assign(ctx, subject, principal, account_id, role)
            account = await accounts_repo.lock_account(conn, account_id)
            if account is None:
                raise not_found("account")
            if by_id:
                user = await users_repo.get(conn, user_ref) if usable_id(user_ref) else None
            else:
                user = await users_repo.find(conn, user_ref, ctx.settings.default_phone_region)  # as login reads it
            if user is None:
                raise not_found("user")
            if account.type == "individual":
                raise ApiError(409, "INDIVIDUAL_ACCOUNT", "an individual account has exactly one member")
            if await accounts_repo.membership(conn, account_id, user.id) is not None:
                raise ApiError(409, "ALREADY_MEMBER", "the user is already a member of this account")
            await accounts_repo.add_member(conn, account_id, user.id, role, now)
            await audit.record(
                conn, "member.added", at=now, actor=actor, subject=user.id, account_id=account_id, role=role
            )
            rows = [
                m for m in await accounts_repo.members_of_account(conn, account_id) if m.user_id == user.id
            ]
    except IntegrityError:
        raise ApiError(409, "ALREADY_MEMBER", "the user is already a member of this account") from None
    return rows[0]


async def remove_member(ctx: Services, principal: Principal | None, account_id: str, user_id: str) -> None:
    _account_id(account_id)
    now = ctx.clock()
    actor = principal.resource_name if principal else "operator"
    policy = ctx.policy
    async with ctx.engine.begin() as conn:
        subject = None
        if principal is not None:
            subject, _ = await access.require(ctx, conn, principal, "accounts:update", account_id)
        if await accounts_repo.lock_account(conn, account_id) is None:
            raise not_found("account")
        member = await accounts_repo.membership(conn, account_id, user_id) if usable_id(user_id) else None
        if member is None:
            raise not_found("member")
        if subject is not None and principal is not None and principal.id != user_id:
            access.check_may_assign(ctx, subject, principal, account_id, member.role)
        if (
            member.role == policy.owner_role
            and await accounts_repo.count_role(conn, account_id, member.role) <= 1
        ):
            raise ApiError(403, "LAST_OWNER", f"the last {policy.owner_role} of an account cannot be removed")
        await accounts_repo.remove_member(conn, account_id, user_id)
        await audit.record(
            conn, "member.removed", at=now, actor=actor, subject=user_id, account_id=account_id
        )


DEMO_MERCHANT = "Test Merchant"
DEMO_KEY_NAME = "test-terminal"


async def create_demo_merchant(ctx: Services, owner_id: str, data: dict[str, Any], base: str) -> None:
    """`serve --demo`: a test org account owned by the demo user, with a merchant-terminal API key
    (like seed 001's published test merchant key). The key is re-issued on each run (shown once)."""
    from keyturn.services import api_keys

    async with ctx.engine.connect() as conn:
        mine = [
            a
            for a, role in await accounts_repo.holdings_of_user(conn, owner_id)
            if a.name == DEMO_MERCHANT and a.type == "org" and a.test
        ]
    account_id = (
        mine[0].id
        if mine
        else (await create_account(ctx, None, name=DEMO_MERCHANT, type="org", test=True, owner_id=owner_id)).id
    )
    try:
        await api_keys.delete(ctx, None, account_id, DEMO_KEY_NAME)
    except ApiError:
        pass
    key = await api_keys.create(ctx, None, account_id, DEMO_KEY_NAME, "merchant-terminal")
    data["test_merchant"] = {"account_id": account_id, "api_key": key.secret, "role": "merchant-terminal"}
    data.setdefault("try", {})["account_memberships"] = (
        f'curl -s {base}/api/account-memberships -H "X-Api-Key: {key.secret}"'
    )
