"""core/policy.py: scope narrowing, and a policy file refused with its line and field for every malformed part."""

from __future__ import annotations

import pytest

from keyturn.core.policy import AccountFacts, Holding, PolicyError, Subject, decide, scope_permissions
from keyturn.core.policy_format import parse_policy

POLICY = parse_policy("""\
permissions:
  payment-requests:read: {}
  payment-requests:create: {}
  merchants:read: {}
roles:
  account-owner:
    permissions: [payment-requests:read, payment-requests:create, merchants:read]
""")
OWNER = Subject((Holding(AccountFacts("a"), "account-owner"),))


def test_a_permission_family_scope_narrows_to_its_permissions():
    assert scope_permissions(POLICY, ["payment-requests:*"]) == frozenset(
        {"payment-requests:read", "payment-requests:create"})
    assert scope_permissions(POLICY, None) is None


def test_scopes_that_name_no_permission_do_not_narrow():
    """Seed 000's capability scopes and an unknown family (``refunds:*``) name no permission: not narrowed."""
    for scopes in (["openid"], ["ALLOW_EXTERNAL_CHARGE"], ["refunds:*"], []):
        assert scope_permissions(POLICY, scopes) is None, scopes
    subject = Subject(OWNER.holdings, scopes=("refunds:*", "openid"))
    assert decide(POLICY, subject, "merchants:read", "a").allowed


def test_a_family_scope_narrows_a_decision():
    subject = Subject(OWNER.holdings, scopes=("payment-requests:*",))
    assert decide(POLICY, subject, "payment-requests:create", "a").allowed
    denied = decide(POLICY, subject, "merchants:read", "a")
    assert not denied.allowed and denied.reason == "token scope does not include merchants:read"


def test_an_unknown_permission_is_never_allowed():
    assert decide(POLICY, OWNER, "wallets:withdraw", "a").reason == "unknown permission wallets:withdraw"


PERM = "permissions:\n  a:b: {}\n"
OWNER_ROLE = "roles:\n  account-owner: {permissions: [a:b]}\n"


@pytest.mark.parametrize(("text", "message"), [
    ("", "the document must be a mapping"),
    (PERM + "roles:\n  account-owner:\n    permissions: a:b\n",
     "line 5: roles.account-owner.permissions: must be a list"),
    (PERM + "roles:\n  account-owner:\n    permissions: ['']\n",
     "roles.account-owner.permissions[0]: must be a non-empty string"),
    (PERM + "roles:\n  account-owner:\n    global: [7]\n", "roles.account-owner.global[0]: must be a non-empty string"),
    ("permissions:\n  a:b:\n    conditions: [org]\n" + OWNER_ROLE,
     "line 3: permissions.a:b.conditions[0]: a condition is a mapping"),
    ("permissions:\n  a:b:\n    conditions: [{}]\n" + OWNER_ROLE, "a condition is a mapping"),
    ("permissions:\n  a:b:\n    conditions:\n      - flag: ''\n" + OWNER_ROLE,
     "line 4: permissions.a:b.conditions[0].flag: must be a non-empty string"),
    ("permissions:\n  a:b:\n    conditions:\n      - subscription: 3\n" + OWNER_ROLE,
     "permissions.a:b.conditions[0].subscription: must be a non-empty string"),
    ("permissions:\n  a:b: [x]\n" + OWNER_ROLE, "line 2: permissions.a:b: must be a mapping (or empty)"),
    ("permissions:\n  a:b:\n    conditions: {flag: x}\n" + OWNER_ROLE,
     "line 3: permissions.a:b.conditions: must be a list of conditions"),
    (PERM, "roles: must be a non-empty mapping"),
    (PERM + "roles: {}\n", "line 3: roles: must be a non-empty mapping"),
    (PERM + "roles:\n  two words: {permissions: [a:b]}\n", "line 4: roles.two words: a role name is a single word"),
    (PERM + "roles:\n  account-owner: [a:b]\n", "line 4: roles.account-owner: must be a mapping with `permissions`"),
    (PERM + "roles:\n  account-owner:\n    permissions: [a:b]\n    description: x\n    assigns: x\n",
     "roles.account-owner.assigns: must be a list"),
])
def test_a_malformed_policy_is_refused_naming_line_and_field(text: str, message: str):
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "ops.yaml")
    assert str(err.value).startswith("invalid policy ops.yaml")
    assert message in str(err.value)
