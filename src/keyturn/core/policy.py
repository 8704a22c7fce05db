"""Policy as data: roles × permissions, global marks, conditions, and the one decision function.

No I/O here: :func:`keyturn.core.policy_format.parse_policy` turns YAML text into a :class:`Policy`, and
:func:`decide` answers "may this subject do permission X on a resource owned by account A?" from facts the
caller has already loaded.

Rules of :func:`decide` (seed 001 "Permissions", Centrapay's 2026 "Account Flags"):

1. The permission must exist in the policy.
2. A token's scopes can only narrow: if the token carries any scope that names a permission
   (``payment-requests:read``) or a permission family (``payment-requests:*``), the permission
   must be covered by one of them. Scopes that name no permission (``openid``,
   ``ALLOW_EXTERNAL_CHARGE``) do not narrow.
3. The subject's role on the owning account grants the permission, or a role it holds on any
   account grants it *globally* (✸ in the seed's table) — global permissions apply whatever
   account owns the resource.
4. The permission's requirements hold: every version 1 ``conditions`` entry and every ``all_of``
   requirement, and at least one ``any_of`` requirement. A condition is checked on the account
   through which the role is held; a named requirement on the account its ``account`` names — the
   *target* (the account that owns the resource), the subject's *individual* account, or the
   *holder* (the account through which the role is held).

The optional ``scopes:`` mapping declares capability scopes (seed 000's ``ALLOW_EXTERNAL_CHARGE``…)
that a credential's creator may grant; see :data:`RESERVED_SCOPE_PREFIX` and docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from keyturn.core.errors import KeyturnError

ACCOUNT_TYPES = ("org", "individual")
CONDITION_KEYS = ("account_type", "flag", "subscription")
# Whose account a named requirement looks at (its `account:`), and how a refusal names it.
ACCOUNTS_CHECKED = {
    "target": "the targeted account",
    "individual": "the individual account",
    "holder": "the account the role is held on",
}
# Scopes of Keyturn itself (keyturn:admin is the operator's): never grantable through the self-service API.
RESERVED_SCOPE_PREFIX = "keyturn:"
MAX_SCOPE_NAME = 100


class PolicyError(KeyturnError, ValueError):
    """An invalid policy file; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class AccountFacts:
    id: str
    type: str = "org"
    flags: frozenset[str] = frozenset()
    subscriptions: frozenset[str] = frozenset()


NOWHERE = AccountFacts("", type="")  # an unknown target: it meets no condition, and says no more than that


@dataclass(frozen=True, slots=True)
class Condition:
    """All given fields must hold for one account."""

    account_type: str | None = None
    flag: str | None = None
    subscription: str | None = None

    def check(self, account: AccountFacts, who: str = "account") -> str | None:
        """None when satisfied, else the reason it is not (``who`` names the account in it)."""
        if self.account_type is not None and account.type != self.account_type:
            return f"{who} type must be {self.account_type}"
        if self.flag is not None and self.flag not in account.flags:
            return f"{who} must carry flag {self.flag}"
        if self.subscription is not None and self.subscription not in account.subscriptions:
            return f"{who} must have subscription {self.subscription}"
        return None


@dataclass(frozen=True, slots=True)
class Requirement:
    """A named condition on one account (version 2's ``requirements:``, Centrapay's "account flags")."""

    name: str
    account: str  # whose account: a key of ACCOUNTS_CHECKED
    condition: Condition
    description: str = ""

    def check(self, holder: AccountFacts, target: AccountFacts, individual: AccountFacts | None) -> str | None:
        """None when met, else ``name (reason)``."""
        facts = {"target": target, "individual": individual, "holder": holder}[self.account]
        if facts is None:
            return f"{self.name} (the caller has no individual account)"
        reason = self.condition.check(facts, ACCOUNTS_CHECKED[self.account])
        return None if reason is None else f"{self.name} ({reason})"


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    description: str = ""
    conditions: tuple[Condition, ...] = ()  # version 1: every one, on the account the role is held on
    all_of: tuple[Requirement, ...] = ()  # every one
    any_of: tuple[Requirement, ...] = ()  # at least one (when there are any)

    @property
    def needs_target(self) -> bool:
        """Whether a requirement looks at the account that owns the resource."""
        return any(r.account == "target" for r in self.all_of + self.any_of)

    def unmet(self, holder: AccountFacts, target: AccountFacts, individual: AccountFacts | None) -> str | None:
        """None when every requirement holds for a role held on ``holder``, else why not."""
        for c in self.conditions:
            if (reason := c.check(holder)) is not None:
                return reason
        for r in self.all_of:
            if (reason := r.check(holder, target, individual)) is not None:
                return f"needs {reason}"
        reasons = [r.check(holder, target, individual) for r in self.any_of]
        if reasons and None not in reasons:
            return "needs " + " or ".join(r for r in reasons if r is not None)
        return None


@dataclass(frozen=True, slots=True)
class ScopeDecl:
    """A capability scope the operator offers to credential creators (it names no permission)."""

    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str = ""
    permissions: frozenset[str] = frozenset()
    global_permissions: frozenset[str] = frozenset()  # ✸: apply to resources of any account
    assigns: frozenset[str] = frozenset()  # roles it may give to members, keys and credentials

    def grants(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class Policy:
    permissions: Mapping[str, Permission]
    roles: Mapping[str, Role]
    owner_role: str = "account-owner"
    source: str = "<default>"
    scopes: Mapping[str, ScopeDecl] = field(default_factory=dict)
    requirements: Mapping[str, Requirement] = field(default_factory=dict)

    def role(self, name: str) -> Role | None:
        return self.roles.get(name)

    def permissions_of(self, role: str) -> frozenset[str]:
        r = self.roles.get(role)
        return r.permissions if r else frozenset()

    def may_assign(self, assigner_role: str, role: str, narrowed_to: frozenset[str] | None = None) -> bool:
        """Nobody mints stronger than themselves: the role's permissions are a subset of the assigner's
        (as narrowed by its token), or the policy lets the assigner's role assign it explicitly."""
        assigner, target = self.roles.get(assigner_role), self.roles.get(role)
        if assigner is None or target is None:
            return False
        held = assigner.permissions if narrowed_to is None else assigner.permissions & narrowed_to
        return target.permissions <= held or (narrowed_to is None and role in assigner.assigns)


@dataclass(frozen=True, slots=True)
class Holding:
    """The subject holds ``role`` on ``account``."""

    account: AccountFacts
    role: str


@dataclass(frozen=True, slots=True)
class Subject:
    holdings: tuple[Holding, ...]
    scopes: tuple[str, ...] | None = None  # the token's scopes; None: not narrowed
    # The account that requirements with `account: individual` look at: a user's own; an API key's or
    # credential's bound account when that is an individual account; else None (docs/policy.md).
    individual: AccountFacts | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    role: str | None = None
    via_account: str | None = None
    global_: bool = False


def scope_permissions(policy: Policy, scopes: Iterable[str] | None) -> frozenset[str] | None:
    """The permissions a token's scopes narrow to, or None when no scope names a permission."""
    if scopes is None:
        return None
    out: set[str] = set()
    named = False
    for s in scopes:
        if s in policy.permissions:
            out.add(s)
            named = True
        elif s.endswith(":*"):
            family = s[:-1]
            matches = {p for p in policy.permissions if p.startswith(family)}
            if matches:
                out |= matches
                named = True
    return frozenset(out) if named else None


def decide(
    policy: Policy,
    subject: Subject,
    permission: str,
    owner_account_id: str | None,
    target: AccountFacts | None = None,
) -> Decision:
    """May ``subject`` do ``permission`` on a resource owned by ``owner_account_id``?

    ``target``: the facts of that account, for requirements on ``account: target``; by default the subject's
    holding on it, and an account the caller could not find meets no requirement.
    """
    perm = policy.permissions.get(permission)
    if perm is None:
        return Decision(False, f"unknown permission {permission}")
    narrowed = scope_permissions(policy, subject.scopes)
    if narrowed is not None and permission not in narrowed:
        return Decision(False, f"token scope does not include {permission}")
    if target is None:
        target = next((h.account for h in subject.holdings if h.account.id == owner_account_id), NOWHERE)
    failed: str | None = None
    # The role on the owning account first, then global grants through any account.
    ordered = sorted(subject.holdings, key=lambda h: h.account.id != owner_account_id)
    for h in ordered:
        role = policy.roles.get(h.role)
        if role is None or not role.grants(permission):
            continue
        is_global = permission in role.global_permissions
        if h.account.id != owner_account_id and not is_global:
            continue
        reason = perm.unmet(h.account, target, subject.individual)
        if reason is not None:
            failed = failed or reason
            continue
        how = "globally " if h.account.id != owner_account_id else ""
        return Decision(
            True,
            f"role {h.role} on account {h.account.id} grants {permission} {how}".strip(),
            role=h.role,
            via_account=h.account.id,
            global_=is_global,
        )
    if failed is not None:
        return Decision(False, f"condition not met for {permission}: {failed}")
    return Decision(False, f"missing permission {permission}")
