"""The policy file format (versions 1 and 2): YAML text → :class:`keyturn.core.policy.Policy`, or a
:class:`keyturn.core.policy.PolicyError` naming the file, line and field (docs/policy.md).

Version 2 adds named ``requirements`` (a condition on the account their ``account`` names: ``target``,
``individual`` or ``holder``) and the permission fields ``all_of`` / ``any_of`` that name them. A version 1
file cannot use them, so it loads and decides exactly as before. Unknown fields, names and values are
refused, never ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from keyturn.core.policy import (
    ACCOUNT_TYPES,
    ACCOUNTS_CHECKED,
    CONDITION_KEYS,
    MAX_SCOPE_NAME,
    RESERVED_SCOPE_PREFIX,
    Condition,
    Permission,
    Policy,
    PolicyError,
    Requirement,
    Role,
    ScopeDecl,
)
from keyturn.core.scopes import is_scope_token

VERSIONS = (1, 2)
TOP_FIELDS = ("version", "owner_role", "requirements", "permissions", "roles", "scopes")
PERMISSION_FIELDS = ("description", "conditions", "all_of", "any_of")
REQUIREMENT_FIELDS = ("description", "account", *CONDITION_KEYS)
ROLE_FIELDS = ("description", "permissions", "global", "assigns")
V2_FIELDS = frozenset({"requirements", "all_of", "any_of"})


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
            hint = " (YAML reads an unquoted on, off, yes or no as true or false)" if isinstance(k, bool) else ""
            raise _fail(lines, path + (k,), f"unknown field{hint} (expected one of {', '.join(allowed)})")


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


def _fields(d: Mapping[str, Any], allowed: Iterable[str], version: int, lines: _Lines,
            path: tuple[Any, ...]) -> None:
    """Only ``allowed`` fields, and version 2's only in a version 2 file."""
    _only(d, allowed, lines, path)
    for k in d:
        if k in V2_FIELDS and version < 2:
            raise _fail(lines, path + (k,), "needs version: 2 at the top of the file (version 1 has no "
                                            "requirements, all_of or any_of)")


def _version(data: Mapping[str, Any], lines: _Lines) -> int:
    version = data.get("version", 1)
    if type(version) is not int or version not in VERSIONS:
        raise _fail(lines, ("version",), "only versions 1 and 2 are supported")
    return version


def _requirements(data: Any, lines: _Lines) -> dict[str, Requirement]:
    """``requirements:`` (version 2) — name → {account (whose), and what to check: flag, subscription, account_type}."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not data:
        raise _fail(lines, ("requirements",), "must be a mapping of requirement name → {account: ..., flag: ...}")
    out: dict[str, Requirement] = {}
    for name, spec in data.items():
        path: tuple[Any, ...] = ("requirements", name)
        if not isinstance(name, str) or not name or " " in name:
            raise _fail(lines, path, "a requirement name is a single word like trusted-user")
        if not isinstance(spec, dict):
            raise _fail(lines, path, "must be a mapping like {account: target, account_type: org}")
        _only(spec, REQUIREMENT_FIELDS, lines, path)
        if spec.get("account") not in ACCOUNTS_CHECKED:
            raise _fail(lines, path + ("account",) if "account" in spec else path,
                        f"`account` names whose account is checked: one of {', '.join(ACCOUNTS_CHECKED)}")
        check = {k: v for k, v in spec.items() if k in CONDITION_KEYS}
        if not check:
            raise _fail(lines, path, f"names nothing to check (one of {', '.join(CONDITION_KEYS)})")
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise _fail(lines, path + ("description",), "must be a string")
        out[name] = Requirement(name, spec["account"], _condition(check, lines, path), description)
    return out


def _named(spec: Mapping[str, Any], key: str, requirements: Mapping[str, Requirement], lines: _Lines,
           path: tuple[Any, ...]) -> tuple[Requirement, ...]:
    """``all_of`` / ``any_of``: names declared under ``requirements``."""
    if key not in spec:
        return ()
    names = _str_list(spec[key], lines, path + (key,))
    if not names:
        raise _fail(lines, path + (key,), "must name at least one requirement (or be left out)")
    for i, n in enumerate(names):
        if n not in requirements:
            raise _fail(lines, path + (key, i), f"unknown requirement {n!r} (declare it under requirements)")
    return tuple(requirements[n] for n in dict.fromkeys(names))


def _permissions(data: Any, version: int, requirements: Mapping[str, Requirement],
                 lines: _Lines) -> dict[str, Permission]:
    if not isinstance(data, dict) or not data:
        raise _fail(lines, ("permissions",), "must be a non-empty mapping of permission name → settings")
    permissions: dict[str, Permission] = {}
    for name, spec in data.items():
        path: tuple[Any, ...] = ("permissions", name)
        if not isinstance(name, str) or ":" not in name or " " in name:
            raise _fail(lines, path, "a permission name looks like resource:action")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise _fail(lines, path, "must be a mapping (or empty)")
        _fields(spec, PERMISSION_FIELDS, version, lines, path)
        conds = spec.get("conditions") or []
        if not isinstance(conds, list):
            raise _fail(lines, path + ("conditions",), "must be a list of conditions")
        permissions[name] = Permission(
            name,
            str(spec.get("description", "")),
            tuple(_condition(c, lines, path + ("conditions", i)) for i, c in enumerate(conds)),
            _named(spec, "all_of", requirements, lines, path),
            _named(spec, "any_of", requirements, lines, path),
        )
    return permissions


def _roles(data: Any, permissions: Mapping[str, Permission], lines: _Lines) -> dict[str, Role]:
    if not isinstance(data, dict) or not data:
        raise _fail(lines, ("roles",), "must be a non-empty mapping of role name → settings")
    roles: dict[str, Role] = {}
    for name, spec in data.items():
        path: tuple[Any, ...] = ("roles", name)
        if not isinstance(name, str) or not name or " " in name:
            raise _fail(lines, path, "a role name is a single word like merchant-terminal")
        if not isinstance(spec, dict):
            raise _fail(lines, path, "must be a mapping with `permissions`")
        _only(spec, ROLE_FIELDS, lines, path)
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
    return roles


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
    version = _version(data, lines)
    _fields(data, TOP_FIELDS, version, lines, ())
    requirements = _requirements(data.get("requirements"), lines)
    permissions = _permissions(data.get("permissions"), version, requirements, lines)
    roles = _roles(data.get("roles"), permissions, lines)
    owner = data.get("owner_role", "account-owner")
    if owner not in roles:
        raise _fail(lines, ("owner_role",), f"the owner role {owner!r} is not defined under roles")
    scopes = _scopes(data.get("scopes"), permissions, lines)
    return Policy(permissions=permissions, roles=roles, owner_role=owner, source=source, scopes=scopes,
                  requirements=requirements)
