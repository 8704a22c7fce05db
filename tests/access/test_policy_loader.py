"""The policy file: conditions, custom roles, and errors that name the line and field."""

from __future__ import annotations

import pytest

from keyturn.core.policy import AccountFacts, Holding, PolicyError, Subject, decide
from keyturn.core.policy_format import parse_policy
from keyturn.services.policy_file import load_policy
from keyturn.settings import Settings

CUSTOM = """\
version: 1
permissions:
  payment-requests:create: {}
  payment-requests:read: {}
  merchants:create:
    conditions:
      - account_type: org
  wallets:withdraw:
    conditions:
      - flag: kyc-verified
      - subscription: payouts
roles:
  account-owner:
    assigns: [cashier]
    permissions: [merchants:create, wallets:withdraw, payment-requests:read]
  cashier:
    permissions: [payment-requests:create, payment-requests:read]
"""


def test_conditions_are_checked_against_the_account():
    policy = parse_policy(CUSTOM)
    org = AccountFacts("o", "org", frozenset({"kyc-verified"}), frozenset({"payouts"}))
    ind = AccountFacts("i", "individual")
    assert decide(policy, Subject((Holding(org, "account-owner"),)), "merchants:create", "o").allowed
    d = decide(policy, Subject((Holding(ind, "account-owner"),)), "merchants:create", "i")
    assert not d.allowed and d.reason == "condition not met for merchants:create: account type must be org"
    assert decide(policy, Subject((Holding(org, "account-owner"),)), "wallets:withdraw", "o").allowed
    no_flag = AccountFacts("o2", "org", frozenset(), frozenset({"payouts"}))
    d = decide(policy, Subject((Holding(no_flag, "account-owner"),)), "wallets:withdraw", "o2")
    assert not d.allowed and "flag kyc-verified" in d.reason
    no_sub = AccountFacts("o3", "org", frozenset({"kyc-verified"}))
    d = decide(policy, Subject((Holding(no_sub, "account-owner"),)), "wallets:withdraw", "o3")
    assert not d.allowed and "subscription payouts" in d.reason


def test_a_custom_role_and_assigns():
    policy = parse_policy(CUSTOM)
    assert decide(
        policy, Subject((Holding(AccountFacts("a"), "cashier"),)), "payment-requests:create", "a"
    ).allowed
    assert policy.may_assign("account-owner", "cashier")
    assert not policy.may_assign("cashier", "account-owner")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("permissions: [", "line 1"),
        ("- a\n- b\n", "the document must be a mapping"),
        ("version: 3\npermissions: {a:b: {}}\nroles: {r: {}}\n", "line 1: version: only versions 1 and 2"),
        ("roles: {r: {}}\n", "permissions: must be a non-empty mapping"),
        (
            "permissions:\n  a:b: {}\nroles:\n  account-owner:\n    permissions: [a:b, a:c]\n",
            "line 5: roles.account-owner.permissions[1]: unknown permission 'a:c'",
        ),
        (
            "permissions:\n  a:b:\n    conditions:\n      - account_type: company\n"
            "roles:\n  account-owner: {permissions: [a:b]}\n",
            "line 4: permissions.a:b.conditions[0].account_type: must be one of org, individual",
        ),
        (
            "permissions:\n  a:b:\n    conditions:\n      - colour: red\n"
            "roles:\n  account-owner: {permissions: [a:b]}\n",
            "line 4: permissions.a:b.conditions[0].colour: unknown field",
        ),
        (
            "permissions:\n  a:b: {}\nroles:\n  account-owner:\n    permissions: [a:b]\n    grants: [x]\n",
            "line 6: roles.account-owner.grants: unknown field",
        ),
        (
            "permissions:\n  a:b: {}\nroles:\n  cashier:\n    permissions: [a:b]\n",
            "owner_role: the owner role 'account-owner' is not defined",
        ),
        ("permissions:\n  nocolon: {}\nroles:\n  account-owner: {}\n", "line 2: permissions.nocolon"),
        (
            "permissions:\n  a:b: {}\nroles:\n  account-owner:\n    assigns: [ghost]\n",
            "roles.account-owner.assigns[0]: unknown role 'ghost'",
        ),
    ],
)
def test_an_invalid_file_is_rejected_naming_line_and_field(text, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "my-policy.yaml")
    assert "invalid policy my-policy.yaml" in str(err.value)
    assert message in str(err.value)


def test_a_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(Settings(environment="development", policy_file=tmp_path / "nope.yaml"))


def test_the_app_refuses_to_start_with_an_invalid_policy_file(tmp_path):
    from keyturn.services.context import build_services

    bad = tmp_path / "policy.yaml"
    bad.write_text("permissions:\n  a:b: {}\nroles:\n  account-owner:\n    permissions: [a:zzz]\n")
    settings = Settings(
        environment="development", policy_file=bad, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db"
    )
    with pytest.raises(PolicyError, match="line 5: roles.account-owner.permissions"):
        build_services(settings)


BASE = "permissions:\n  a:b: {}\nroles:\n  account-owner: {permissions: [a:b]}\n"


def test_the_policy_declares_capability_scopes_with_descriptions():
    policy = parse_policy(BASE + "scopes:\n  ALLOW_OTA_CHARGE:\n    description: OTA\n  BLOCKED_MONEY_OUT: {}\n"
                          "  PLAIN:\n")
    assert {n: s.description for n, s in policy.scopes.items()} == {
        "ALLOW_OTA_CHARGE": "OTA", "BLOCKED_MONEY_OUT": "", "PLAIN": ""}
    assert parse_policy(BASE).scopes == {}
    default = load_policy(Settings(environment="development"))
    assert {"ALLOW_EXTERNAL_CHARGE", "BLOCKED_MONEY_OUT", "ALLOW_OTA_CHARGE"} <= set(default.scopes)


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("scopes: [A, B]\n", "line 5: scopes: must be a mapping"),
        ("scopes:\n  keyturn:admin: {}\n", "line 6: scopes.keyturn:admin: scopes starting keyturn: are reserved"),
        ("scopes:\n  a:b: {}\n", "line 6: scopes.a:b: names a permission"),
        ('scopes:\n  "two words": {}\n', "line 6: scopes.two words: a scope name is one token"),
        ('scopes:\n  "quo\\"te": {}\n', "scope name is one token"),
        ("scopes:\n  OK:\n    label: x\n", "line 7: scopes.OK.label: unknown field"),
        ("scopes:\n  OK:\n    description: [x]\n", "line 7: scopes.OK.description: must be a string"),
        ("scopes:\n  OK: yes\n", "line 6: scopes.OK: must be a mapping"),
    ],
)
def test_an_invalid_scopes_section_is_rejected_naming_line_and_field(scopes, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(BASE + scopes, "my-policy.yaml")
    assert message in str(err.value)
