"""Policy as data: roles × permissions, global marks, conditions, and the one decision function.

No I/O here: :func:`parse_policy` turns YAML text into a :class:`Policy` (rejecting an invalid
file with a message naming the line and field), and :func:`decide` answers "may this subject do
permission X on a resource owned by account A?" from facts the caller has already loaded.

Rules of :func:`decide` (seed 001 "Permissions"):

1. The permission must exist in the policy.
2. A token's scopes can only narrow: if the token carries any scope that names a permission
   (``payment-requests:read``) or a permission family (``payment-requests:*``), the permission
   must be covered by one of them. Scopes that name no permission (``openid``,
   ``ALLOW_EXTERNAL_CHARGE``) do not narrow.
3. The subject's role on the owning account grants the permission, or a role it holds on any
   account grants it *globally* (✸ in the seed's table) — global permissions apply whatever
   account owns the resource.
4. The permission's conditions hold for the account through which the role is held
   (account type, a flag, a subscription).

The optional ``scopes:`` mapping declares capability scopes (seed 000's ``ALLOW_EXTERNAL_CHARGE``…)
that a credential's creator may grant; see :data:`RESERVED_SCOPE_PREFIX` and docs/policy.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from keyturn.core.errors import KeyturnError
from keyturn.core.scopes import is_scope_token

ACCOUNT_TYPES = ("org", "individual")
CONDITION_KEYS = ("account_type", "flag", "subscription")
# Scopes of Keyturn itself (keyturn:admin is the operator's): never grantable through the self-service API.
RESERVED_SCOPE_PREFIX = "keyturn:"
MAX_SCOPE_NAME = 100


class PolicyError(KeyturnError, ValueError):
    """An invalid policy file; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class Condition:
    """All given fields must hold for the acting account."""

    account_type: str | None = None
    flag: str | None = None
    subscription: str | None = None

    def check(self, account: AccountFacts) -> str | None:
        """None when satisfied, else the reason it is not."""
        if self.account_type is not None and account.type != self.account_type:
            return f"account type must be {self.account_type}"
        if self.flag is not None and self.flag not in account.flags:
            return f"account must carry flag {self.flag}"
        if self.subscription is not None and self.subscription not in account.subscriptions:
            return f"account must have subscription {self.subscription}"
        return None


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    description: str = ""
    conditions: tuple[Condition, ...] = ()


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
class AccountFacts:
    id: str
    type: str = "org"
    flags: frozenset[str] = frozenset()
    subscriptions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Holding:
    """The subject holds ``role`` on ``account``."""

    account: AccountFacts
    role: str


@dataclass(frozen=True, slots=True)
class Subject:
    holdings: tuple[Holding, ...]
    scopes: tuple[str, ...] | None = None  # the token's scopes; None: not narrowed


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


def decide(policy: Policy, subject: Subject, permission: str, owner_account_id: str | None) -> Decision:
    """May ``subject`` do ``permission`` on a resource owned by ``owner_account_id``?"""
    perm = policy.permissions.get(permission)
    if perm is None:
        return Decision(False, f"unknown permission {permission}")
    narrowed = scope_permissions(policy, subject.scopes)
    if narrowed is not None and permission not in narrowed:
        return Decision(False, f"token scope does not include {permission}")
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
        reason = next((r for c in perm.conditions if (r := c.check(h.account)) is not None), None)
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


# ---- loading ---------------------------------------------------------------------------------


@dataclass
class _Lines:
    source: str
    by_path: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def at(self, path: Sequence[Any]) -> str:
        p = tuple(path)
        while p and p not in self.by_path:
            p = p[:-1]
        line = self.by_path.get(p)
        where = ".".join(str(x) if not isinstance(x, int) else f"[{x}]" for x in path).replace(".[", "[")
        return f"{self.source}" + (f" line {line}" if line else "") + (f": {where}" if where else "")


def _record_lines(node: yaml.Node | None, path: tuple[Any, ...], lines: _Lines) -> None:
    if node is None:
        return
    lines.by_path.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            lines.by_path[path + (key,)] = k.start_mark.line + 1
            _record_lines(v, path + (key,), lines)
            lines.by_path[path + (key,)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _record_lines(v, path + (i,), lines)


def _fail(lines: _Lines, path: Sequence[Any], message: str) -> PolicyError:
    return PolicyError(f"invalid policy {lines.at(path)}: {message}")


def _str_list(data: Any, lines: _Lines, path: tuple[Any, ...]) -> list[str]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise _fail(lines, path, "must be a list of names")
    for i, item in enumerate(data):
        if not isinstance(item, str) or not item.strip():
            raise _fail(lines, path + (i,), "must be a non-empty string")
    return list(data)


def _only(d: Mapping[str, Any], allowed: Iterable[str], lines: _Lines, path: tuple[Any, ...]) -> None:
    allowed = tuple(allowed)
    for k in d:
        if k not in allowed:
            raise _fail(lines, path + (k,), f"unknown field (expected one of {', '.join(allowed)})")


def _condition(data: Any, lines: _Lines, path: tuple[Any, ...]) -> Condition:
    if not isinstance(data, dict) or not data:
        raise _fail(lines, path, "a condition is a mapping like {account_type: org} or {flag: NAME}")
    _only(data, CONDITION_KEYS, lines, path)
    for k, v in data.items():
        if not isinstance(v, str) or not v:
            raise _fail(lines, path + (k,), "must be a non-empty string")
    if "account_type" in data and data["account_type"] not in ACCOUNT_TYPES:
        raise _fail(lines, path + ("account_type",), f"must be one of {', '.join(ACCOUNT_TYPES)}")
    return Condition(**data)


def _scopes(data: Any, permissions: Mapping[str, Permission], lines: _Lines) -> dict[str, ScopeDecl]:
    """``scopes:`` — name → {description}; a name is one RFC 6749 §3.3 scope-token."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(lines, ("scopes",), "must be a mapping of scope name → {description}")
    out: dict[str, ScopeDecl] = {}
    for name, spec in data.items():
        path: tuple[Any, ...] = ("scopes", name)
        if not isinstance(name, str) or not is_scope_token(name) or len(name) > MAX_SCOPE_NAME:
            raise _fail(lines, path, f"a scope name is one token of printable ASCII without spaces, quotes "
                                     f"or backslashes, at most {MAX_SCOPE_NAME} characters")
        if name.startswith(RESERVED_SCOPE_PREFIX):
            raise _fail(lines, path, f"scopes starting {RESERVED_SCOPE_PREFIX} are reserved for Keyturn")
        if name in permissions:
            raise _fail(lines, path, "names a permission: a creator may grant it when they hold it, "
                                     "it needs no declaration here")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise _fail(lines, path, "must be a mapping like {description: ...} (or empty)")
        _only(spec, ("description",), lines, path)
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise _fail(lines, path + ("description",), "must be a string")
        out[name] = ScopeDecl(name, description)
    return out


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate a policy document. Raises :class:`PolicyError` naming the line and field."""
    lines = _Lines(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(
            f"invalid policy {source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    _record_lines(node, (), lines)
    if not isinstance(data, dict):
        raise _fail(lines, (), "the document must be a mapping with `permissions` and `roles`")
    _only(data, ("version", "owner_role", "permissions", "roles", "scopes"), lines, ())
    if data.get("version", 1) != 1:
        raise _fail(lines, ("version",), "only version 1 is supported")
    raw_perms = data.get("permissions")
    if not isinstance(raw_perms, dict) or not raw_perms:
        raise _fail(lines, ("permissions",), "must be a non-empty mapping of permission name → settings")
    permissions: dict[str, Permission] = {}
    for name, spec in raw_perms.items():
        path: tuple[Any, ...] = ("permissions", name)
        if not isinstance(name, str) or ":" not in name or " " in name:
            raise _fail(lines, path, "a permission name looks like resource:action")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise _fail(lines, path, "must be a mapping (or empty)")
        _only(spec, ("description", "conditions"), lines, path)
        conds = spec.get("conditions") or []
        if not isinstance(conds, list):
            raise _fail(lines, path + ("conditions",), "must be a list of conditions")
        permissions[name] = Permission(
            name,
            str(spec.get("description", "")),
            tuple(_condition(c, lines, path + ("conditions", i)) for i, c in enumerate(conds)),
        )
    raw_roles = data.get("roles")
    if not isinstance(raw_roles, dict) or not raw_roles:
        raise _fail(lines, ("roles",), "must be a non-empty mapping of role name → settings")
    roles: dict[str, Role] = {}
    for name, spec in raw_roles.items():
        path = ("roles", name)
        if not isinstance(name, str) or not name or " " in name:
            raise _fail(lines, path, "a role name is a single word like merchant-terminal")
        if not isinstance(spec, dict):
            raise _fail(lines, path, "must be a mapping with `permissions`")
        _only(spec, ("description", "permissions", "global", "assigns"), lines, path)
        perms = _str_list(spec.get("permissions"), lines, path + ("permissions",))
        glob = _str_list(spec.get("global"), lines, path + ("global",))
        for key, names in (("permissions", perms), ("global", glob)):
            for i, p in enumerate(names):
                if p not in permissions:
                    raise _fail(
                        lines, path + (key, i), f"unknown permission {p!r} (declare it under permissions)"
                    )
        roles[name] = Role(
            name,
            str(spec.get("description", "")),
            frozenset(perms) | frozenset(glob),
            frozenset(glob),
            frozenset(_str_list(spec.get("assigns"), lines, path + ("assigns",))),
        )
    for name, role in roles.items():
        for i, a in enumerate(sorted(role.assigns)):
            if a not in roles:
                raise _fail(lines, ("roles", name, "assigns", i), f"unknown role {a!r}")
    owner = data.get("owner_role", "account-owner")
    if owner not in roles:
        raise _fail(lines, ("owner_role",), f"the owner role {owner!r} is not defined under roles")
    scopes = _scopes(data.get("scopes"), permissions, lines)
    return Policy(permissions=permissions, roles=roles, owner_role=owner, source=source, scopes=scopes)
