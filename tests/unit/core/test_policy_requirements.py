"""Version 2 of the policy format: named requirements on the target, individual or holder account; all_of/any_of."""

from __future__ import annotations

import pytest

from keyturn.core.policy import AccountFacts, Holding, PolicyError, Subject, decide
from keyturn.core.policy_format import parse_policy

V2 = """\
version: 2
requirements:
  trusted:
    description: a verified person
    account: individual
    flag: trusted-user
  issuer:
    account: target
    subscription: external-asset-issuer
  org:
    account: target
    account_type: org
  kyc:
    account: holder
    flag: kyc
permissions:
  assets:issue: {any_of: [trusted, issuer]}
  payments:pay: {any_of: [org]}
  payouts:create: {all_of: [org, kyc], any_of: [trusted, issuer]}
  legacy:do:
    conditions: [{flag: kyc}]
    any_of: [org]
roles:
  account-owner:
    permissions: [assets:issue, payouts:create, legacy:do]
    global: [payments:pay]
"""
POLICY = parse_policy(V2, "v2.yaml")
ORG = AccountFacts("org")
ORG_ISSUER = AccountFacts("org-issuer", subscriptions=frozenset({"external-asset-issuer"}))
ORG_KYC = AccountFacts("org-kyc", flags=frozenset({"kyc"}))
PERSON = AccountFacts("me", "individual")
TRUSTED_PERSON = AccountFacts("me", "individual", flags=frozenset({"trusted-user"}))


def owner_on(account: AccountFacts, individual: AccountFacts | None = None) -> Subject:
    return Subject((Holding(account, "account-owner"),), individual=individual)


def test_any_one_of_the_requirements_suffices():
    assert decide(POLICY, owner_on(ORG_ISSUER), "assets:issue", ORG_ISSUER.id).allowed
    assert decide(POLICY, owner_on(ORG, TRUSTED_PERSON), "assets:issue", ORG.id).allowed
    d = decide(POLICY, owner_on(ORG, PERSON), "assets:issue", ORG.id)
    assert not d.allowed and d.reason == (
        "condition not met for assets:issue: needs trusted (the individual account must carry flag trusted-user) "
        "or issuer (the targeted account must have subscription external-asset-issuer)")


def test_all_of_needs_every_one_and_any_of_still_one():
    both = AccountFacts("o", flags=frozenset({"kyc"}), subscriptions=frozenset({"external-asset-issuer"}))
    assert decide(POLICY, owner_on(both), "payouts:create", "o").allowed
    d = decide(POLICY, owner_on(ORG_ISSUER), "payouts:create", ORG_ISSUER.id)
    assert not d.allowed and d.reason == (
        "condition not met for payouts:create: needs kyc (the account the role is held on must carry flag kyc)")
    d = decide(POLICY, owner_on(ORG_KYC), "payouts:create", ORG_KYC.id)
    assert not d.allowed and d.reason.startswith("condition not met for payouts:create: needs trusted (")
    d = decide(POLICY, owner_on(AccountFacts("i", "individual", frozenset({"kyc"}))), "payouts:create", "i")
    assert d.reason == "condition not met for payouts:create: needs org (the targeted account type must be org)"


def test_version_1_conditions_keep_their_words_beside_requirements():
    d = decide(POLICY, owner_on(ORG), "legacy:do", ORG.id)
    assert d.reason == "condition not met for legacy:do: account must carry flag kyc"
    assert decide(POLICY, owner_on(ORG_KYC), "legacy:do", ORG_KYC.id).allowed


def test_a_global_grant_checks_the_target_given_and_an_unknown_target_meets_nothing():
    me = owner_on(PERSON, PERSON)
    d = decide(POLICY, me, "payments:pay", "shop", AccountFacts("shop", "org"))
    assert d.allowed and d.global_ and d.via_account == PERSON.id
    refused = "condition not met for payments:pay: needs org (the targeted account type must be org)"
    assert decide(POLICY, me, "payments:pay", "other", AccountFacts("other", "individual")).reason == refused
    assert decide(POLICY, me, "payments:pay", "nowhere").reason == refused  # not looked up: says no more
    # On its own account, the holding is the target.
    assert decide(POLICY, me, "payments:pay", PERSON.id).reason == refused
    assert decide(POLICY, owner_on(ORG), "payments:pay", ORG.id).allowed


def test_no_individual_account_fails_only_that_requirement():
    assert decide(POLICY, owner_on(ORG_ISSUER, None), "assets:issue", ORG_ISSUER.id).allowed
    d = decide(POLICY, owner_on(ORG, None), "assets:issue", ORG.id)
    assert "trusted (the caller has no individual account) or issuer" in d.reason


def test_the_policy_keeps_its_requirements_and_which_permissions_look_at_the_target():
    assert POLICY.requirements["trusted"].description == "a verified person"
    assert POLICY.permissions["payments:pay"].needs_target
    assert POLICY.permissions["legacy:do"].needs_target  # its any_of: org
    kyc_only = parse_policy(V2.replace("payouts:create: {all_of: [org, kyc], any_of: [trusted, issuer]}",
                                       "payouts:create: {all_of: [kyc]}"))
    assert not kyc_only.permissions["payouts:create"].needs_target


REQ = "version: 2\nrequirements:\n  org: {account: target, account_type: org}\n"
PERMS = "permissions:\n  a:b: {any_of: [org]}\nroles:\n  account-owner: {permissions: [a:b]}\n"


@pytest.mark.parametrize(("text", "message"), [
    (REQ.replace("version: 2", "version: 1") + PERMS,
     "line 2: requirements: needs version: 2 at the top of the file"),
    ("permissions:\n  a:b: {any_of: [org]}\nroles:\n  account-owner: {permissions: [a:b]}\n",
     "line 2: permissions.a:b.any_of: needs version: 2"),
    ("permissions:\n  a:b: {all_of: [org]}\nroles:\n  account-owner: {permissions: [a:b]}\n",
     "line 2: permissions.a:b.all_of: needs version: 2"),
    ("version: true\n" + PERMS, "line 1: version: only versions 1 and 2"),
    (REQ + PERMS.replace("[org]", "[org, orgg]"),
     "line 5: permissions.a:b.any_of[1]: unknown requirement 'orgg' (declare it under requirements)"),
    (REQ + PERMS.replace("[org]", "[]"), "permissions.a:b.any_of: must name at least one requirement"),
    (REQ + PERMS.replace("[org]", "org"), "permissions.a:b.any_of: must be a list of names"),
    (REQ + PERMS.replace("any_of", "one_of"), "line 5: permissions.a:b.one_of: unknown field"),
    ("version: 2\nrequirements:\n  org: {on: target, account_type: org}\n" + PERMS,
     "line 3: requirements.org[True]: unknown field (YAML reads an unquoted on, off, yes or no as true or false)"),
    ("version: 2\nrequirements:\n  org: {account: owner, account_type: org}\n" + PERMS,
     "line 3: requirements.org.account: `account` names whose account is checked: one of target, individual, "
     "holder"),
    ("version: 2\nrequirements:\n  org: {account_type: org}\n" + PERMS, "line 3: requirements.org: `account` names"),
    ("version: 2\nrequirements:\n  org: {account: target}\n" + PERMS,
     "line 3: requirements.org: names nothing to check (one of account_type, flag, subscription)"),
    ("version: 2\nrequirements:\n  org: {account: target, account_type: company}\n" + PERMS,
     "requirements.org.account_type: must be one of org, individual"),
    ("version: 2\nrequirements:\n  org: {account: target, flagg: x}\n" + PERMS,
     "line 3: requirements.org.flagg: unknown field (expected one of description, account, account_type, flag, "
     "subscription)"),
    ("version: 2\nrequirements:\n  org: {account: target, flag: ''}\n" + PERMS,
     "requirements.org.flag: must be a non-empty string"),
    ("version: 2\nrequirements:\n  org: {account: target, flag: x, description: [d]}\n" + PERMS,
     "requirements.org.description: must be a string"),
    ("version: 2\nrequirements:\n  org: target\n" + PERMS, "line 3: requirements.org: must be a mapping like"),
    ("version: 2\nrequirements:\n  two words: {account: target, flag: x}\n" + PERMS,
     "requirements.two words: a requirement name is a single word"),
    ("version: 2\nrequirements: [org]\n" + PERMS, "line 2: requirements: must be a mapping of requirement name"),
    ("version: 2\nrequirements: {}\n" + PERMS, "line 2: requirements: must be a mapping of requirement name"),
])
def test_a_bad_requirement_is_refused_naming_line_and_field(text: str, message: str):
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "ops.yaml")
    assert str(err.value).startswith("invalid policy ops.yaml")
    assert message in str(err.value)


def test_a_version_1_file_is_a_version_2_file_that_decides_the_same():
    v1 = "permissions:\n  a:b:\n    conditions: [{account_type: org}]\nroles:\n  account-owner: {permissions: [a:b]}\n"
    one, two = parse_policy(v1), parse_policy("version: 2\n" + v1)
    assert one == two
    for account in (ORG, PERSON):
        assert decide(one, owner_on(account), "a:b", account.id) == decide(two, owner_on(account), "a:b", account.id)
