"""Seed 001's roles × permissions table, cell by cell, against the default policy and decide()."""

from __future__ import annotations

import pytest

from keyturn.core.policy import AccountFacts, Holding, Subject, decide
from keyturn.services.policy_file import DEFAULT_POLICY, load_policy
from keyturn.settings import Settings

# Transcribed from seed 001 "Permissions": "" = not granted, "Y" = granted on the account's own
# resources, "*" = granted globally (✸ ✅).
SEED_TABLE = """
accounts:create          Y . .
accounts:read            Y . .
accounts:update          Y . .
quotas:read              Y . .
api-keys:create          Y . .
api-keys:update          Y . .
api-keys:list            Y . .
merchants:create         Y . .
merchants:read           Y . .
merchants:update         Y . .
merchants:list           Y . .
payment-requests:create  . . Y
payment-requests:read    * * Y
payment-requests:update  . . Y
payment-requests:pay     * * .
payment-requests:void    . . Y
payment-requests:refund  . . Y
assets:read              Y . .
assets:spend             Y . .
wallets:transfer         Y . .
wallets:withdraw         Y . .
wallets:deposit          Y . .
wallets:create           Y . .
wallets:read             Y . .
asset-transfers:create   Y . .
asset-transfers:read     Y . .
asset-transfers:claim    Y . .
bank-authorities:create  Y . .
bank-authorities:read    Y . .
"""
ROLES = ("account-owner", "anon-consumer", "merchant-terminal")
TABLE = {
    line.split()[0]: dict(zip(ROLES, line.split()[1:], strict=True))
    for line in SEED_TABLE.strip().splitlines()
}
POLICY = load_policy(Settings(environment="development"))
MINE, THEIRS = AccountFacts("acct-mine"), AccountFacts("acct-theirs")
CELLS = [(role, perm, owned) for role in ROLES for perm in TABLE for owned in (True, False)]


def test_the_default_policy_has_exactly_the_seeds_roles_and_permissions():
    assert set(POLICY.roles) == set(ROLES)
    assert set(POLICY.permissions) == set(TABLE)
    assert POLICY.owner_role == "account-owner"
    assert str(DEFAULT_POLICY).endswith("policy/default.yaml")


@pytest.mark.parametrize(
    ("role", "permission", "owned"),
    CELLS,
    ids=[f"{r}-{p}-{'owned' if o else 'not-owned'}" for r, p, o in CELLS],
)
def test_every_cell_of_the_seed_table(role, permission, owned):
    cell = TABLE[permission][role]
    subject = Subject((Holding(MINE, role),))
    d = decide(POLICY, subject, permission, MINE.id if owned else THEIRS.id)
    expected = cell in ("Y", "*") if owned else cell == "*"
    assert d.allowed is expected, d.reason
    if expected:
        assert d.role == role and d.via_account == MINE.id
    else:
        assert d.reason == f"missing permission {permission}"


def test_a_subject_without_any_role_is_refused_everything():
    for perm in TABLE:
        assert not decide(POLICY, Subject(()), perm, MINE.id).allowed


def test_an_unknown_permission_is_refused_with_that_reason():
    d = decide(POLICY, Subject((Holding(MINE, "account-owner"),)), "payments:steal", MINE.id)
    assert not d.allowed and d.reason == "unknown permission payments:steal"


def test_an_unknown_role_grants_nothing():
    assert not decide(POLICY, Subject((Holding(MINE, "root"),)), "accounts:read", MINE.id).allowed


def test_scopes_only_narrow():
    owner = Holding(MINE, "account-owner")
    narrowed = Subject((owner,), scopes=("openid", "accounts:read"))
    assert decide(POLICY, narrowed, "accounts:read", MINE.id).allowed
    d = decide(POLICY, narrowed, "accounts:update", MINE.id)
    assert not d.allowed and "scope" in d.reason
    # A scope can never add what the role lacks.
    terminal = Subject((Holding(MINE, "merchant-terminal"),), scopes=("accounts:read",))
    assert not decide(POLICY, terminal, "accounts:read", MINE.id).allowed
    # Families and non-permission scopes.
    family = Subject((owner,), scopes=("wallets:*",))
    assert decide(POLICY, family, "wallets:read", MINE.id).allowed
    assert not decide(POLICY, family, "assets:read", MINE.id).allowed
    capability = Subject((owner,), scopes=("ALLOW_EXTERNAL_CHARGE", "openid"))
    assert decide(POLICY, capability, "assets:read", MINE.id).allowed


def test_a_user_with_roles_on_several_accounts_uses_the_role_on_the_owning_account():
    subject = Subject((Holding(MINE, "merchant-terminal"), Holding(THEIRS, "account-owner")))
    assert decide(POLICY, subject, "payment-requests:create", MINE.id).allowed
    assert not decide(POLICY, subject, "payment-requests:create", THEIRS.id).allowed
    assert decide(POLICY, subject, "wallets:read", THEIRS.id).allowed
    assert not decide(POLICY, subject, "wallets:read", MINE.id).allowed
    # Global: pay anyone's payment request through the owner role held elsewhere.
    d = decide(POLICY, subject, "payment-requests:pay", "acct-third")
    assert d.allowed and d.global_ and d.via_account == THEIRS.id


def test_nobody_mints_stronger_than_themselves():
    assert POLICY.may_assign("account-owner", "merchant-terminal")  # assigns, as the seed's owners do
    assert POLICY.may_assign("account-owner", "account-owner")
    assert not POLICY.may_assign("merchant-terminal", "account-owner")
    assert not POLICY.may_assign("anon-consumer", "merchant-terminal")
    assert POLICY.may_assign("merchant-terminal", "merchant-terminal")
    assert not POLICY.may_assign("account-owner", "nope")
    # A narrowed token loses `assigns`: only what its scopes still hold.
    assert not POLICY.may_assign("account-owner", "merchant-terminal", frozenset({"api-keys:create"}))
