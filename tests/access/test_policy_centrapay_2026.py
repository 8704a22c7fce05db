"""examples/policies/centrapay-2026.yaml against Centrapay's 2026 table, cell by cell, on SQLite and PostgreSQL.

The expected answers come from the markdown table (tests/access/centrapay_2026.py reads it); the answers
compared with them come from the decision service (`access.authorize`, what `POST /api/authorize` and
`GET /auth/forward` call) over accounts, flags, subscriptions and API keys stored in the database. For every
role × permission, on a resource of the key's own account and of another account, with each of the four
account flags present and absent: the flags are set on real accounts — 👤 on the caller's individual account,
🧀 🪙 🗄 on the targeted account — never in the policy under test.
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from keyturn.core.models import Principal
from keyturn.services import access, api_keys
from keyturn.services import accounts as accounts_service
from keyturn.services.context import Services
from keyturn.services.demo import create_demo_data
from keyturn.services.policy_file import load_policy
from keyturn.services.users import create_user
from keyturn.settings import Settings
from tests.access.centrapay_2026 import (
    COLLECTIONS,
    FLAG_MEANING,
    ISSUER,
    ORG,
    POLICY_FILE,
    SHARED_MD,
    SYMBOLS,
    TABLE_MD,
    TRUSTED,
    Row,
    load,
)

TABLE = load()
IN_CI = os.environ.get("CI", "").lower() == "true"
STATES = [frozenset(s for s, on in zip(SYMBOLS, bits, strict=True) if on)
          for bits in itertools.product((False, True), repeat=len(SYMBOLS))]
TRUSTED_FLAG = FLAG_MEANING[TRUSTED][2]
SUBSCRIPTION = {ISSUER: FLAG_MEANING[ISSUER][2], COLLECTIONS: FLAG_MEANING[COLLECTIONS][2]}


async def _flag_account(ctx: Any, account_id: str, *, flags: tuple[str, ...] = (), remove_flags: tuple[str, ...] = (),
                        subscriptions: tuple[str, ...] = (), remove_subscriptions: tuple[str, ...] = ()) -> None:
    """The operator's change (principal None: the CLI's), as `keyturn accounts flags|subscriptions` makes it."""
    if flags or remove_flags:
        await accounts_service.change_features(ctx, None, account_id, "flag", add=flags, remove=remove_flags)
    if subscriptions or remove_subscriptions:
        await accounts_service.change_features(ctx, None, account_id, "subscription", add=subscriptions,
                                               remove=remove_subscriptions)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"policy_file": POLICY_FILE}


def test_the_checked_in_table_is_the_shared_reference():
    if not SHARED_MD.is_file():
        if IN_CI:
            pytest.fail(f"{SHARED_MD} is missing: CI runs with ../shared beside the clone")
        pytest.skip(f"{SHARED_MD} is not beside this clone")
    assert TABLE_MD.read_bytes() == SHARED_MD.read_bytes(), "update tests/data/centrapay-roles-2026.md"


def test_each_flag_means_what_the_tables_description_says():
    for symbol, (_, words, _) in FLAG_MEANING.items():
        assert words in TABLE.flag_descriptions[symbol].lower(), symbol


def test_the_policy_has_exactly_the_tables_roles_and_permissions():
    policy = load_policy(Settings(environment="development", policy_file=POLICY_FILE))
    assert set(policy.roles) == set(TABLE.roles) == {
        "account-owner", "anon-consumer", "merchant-terminal", "external-asset-provider", "cashier"}
    assert list(policy.permissions) == [row.permission for row in TABLE.rows]
    assert len(TABLE.rows) == 63 and policy.owner_role == "account-owner"


def _subscriptions(present: frozenset[str]) -> tuple[str, ...]:
    return tuple(name for symbol, name in SUBSCRIPTION.items() if symbol in present)


@dataclass
class World:
    """Accounts with every combination of facts; one API key with the role on each; two users (one trusted)
    holding the role on the orgs (and account-owner on their individual account, as every user does)."""

    accounts: dict[tuple[Any, ...], str]
    keys: dict[tuple[Any, ...], Principal]
    users: dict[bool, Principal]

    def key_case(self, present: frozenset[str], owned: bool) -> tuple[Principal, str, str] | None:
        """(a key, its account, the account owning the resource). 👤 is the key's account's (a key on an
        individual account acts for its one member); a target's own trusted-user flag is the opposite, so
        it is seen to count for nothing. None: no key has those facts (an org has no individual account)."""
        subs = _subscriptions(present)
        if owned:
            if ORG in present and TRUSTED in present:
                return None
            kind = ("org", subs) if ORG in present else ("individual", TRUSTED in present, subs)
            return self.keys[kind], self.accounts[kind], self.accounts[kind]
        holder = ("holder", "individual") if TRUSTED in present else ("holder", "org")
        target = ("org", subs) if ORG in present else ("individual", TRUSTED not in present, subs)
        return self.keys[holder], self.accounts[holder], self.accounts[target]

    def user_case(self, present: frozenset[str], owned: bool) -> tuple[Principal, str] | None:
        """(a user, an org they hold the role on, with those facts): the case no key can be in, where the
        account holding the role (an org) is not the individual account that 👤 is read on."""
        if not owned or ORG not in present:
            return None
        return self.users[TRUSTED in present], self.accounts[("org", _subscriptions(present))]


async def _individual_account(ctx: Services, trusted: bool, subs: tuple[str, ...]) -> tuple[str, str]:
    """(user id, their individual account id)."""
    user, account_id = await create_user(ctx, email=f"u{uuid.uuid4().hex[:10]}@example.test", phone_number=None,
                                         password="correct horse battery staple")
    await _flag_account(ctx, account_id, flags=(TRUSTED_FLAG,) if trusted else (),
                                        subscriptions=subs)
    return user.id, account_id


async def _org(ctx: Services, subs: tuple[str, ...]) -> str:
    return (await accounts_service.create_account(ctx, None, name="Org", type="org", subscriptions=subs)).id


async def build_world(ctx: Services, role: str) -> World:
    subs_choices = [_subscriptions(frozenset(c)) for n in range(3) for c in itertools.combinations(SUBSCRIPTION, n)]
    accounts: dict[tuple[Any, ...], str] = {}
    for subs in subs_choices:
        accounts[("org", subs)] = await _org(ctx, subs)
        for trusted in (False, True):
            accounts[("individual", trusted, subs)] = (await _individual_account(ctx, trusted, subs))[1]
    accounts[("holder", "org")] = await _org(ctx, ())
    accounts[("holder", "individual")] = (await _individual_account(ctx, True, ()))[1]
    keys = {}
    for kind, account_id in accounts.items():
        issued = await api_keys.create(ctx, None, account_id, "k", role)
        assert issued.secret is not None
        keys[kind] = await api_keys.authenticate(ctx, issued.secret, ctx.clock())
    users = {}
    for trusted in (False, True):
        user_id, _ = await _individual_account(ctx, trusted, ())
        users[trusted] = Principal(kind="user", id=user_id)
        for kind, account_id in accounts.items():
            if kind[0] == "org":
                await accounts_service.add_member(ctx, None, account_id, user_id, role)
    return World(accounts, keys, users)


def _expected_reason(row: Row, role: str, owned: bool, allowed: bool, holder: str) -> str:
    granted, is_global = row.cells[role]
    if not granted or not (owned or is_global):
        return f"missing permission {row.permission}"
    if not allowed:
        return f"condition not met for {row.permission}: needs "
    return f"role {role} on account {holder} grants {row.permission}"


@pytest.mark.parametrize("role", TABLE.roles)
async def test_every_cell_of_the_2026_table_with_and_without_each_flag(ctx, role):
    """Each role × 63 permissions × owned/not owned × the four flags present/absent: API keys (12 owned +
    16 not-owned combinations) and users for the owned ones with 🗄 (8; a user also owns their individual
    account, so the owner's ✸ cells apply to them too, as they do at Centrapay)."""
    world = await build_world(ctx, role)
    decided, wrong = 0, []
    for row, present, owned in itertools.product(TABLE.rows, STATES, (True, False)):
        flags = " ".join(sorted(present)) or "no flag"
        case = f"{row.permission} {'owned' if owned else 'not owned'}, {flags}"
        if (key := world.key_case(present, owned)) is not None:
            principal, holder, target = key
            verdict = await access.authorize(ctx, principal, row.permission, [target])
            expected = row.allows(role, owned, present)
            reason = _expected_reason(row, role, owned, expected, holder)
            decided += 1
            if verdict.allowed is not expected or not verdict.reason.startswith(reason) or verdict.account_id != target:
                wrong.append(f"key, {case}: expected {expected}, got {verdict.allowed} ({verdict.reason})")
        if (user := world.user_case(present, owned)) is not None:
            principal, target = user
            verdict = await access.authorize(ctx, principal, row.permission, [target])
            expected = row.allows(role, owned, present) or row.allows("account-owner", False, present)
            decided += 1
            if verdict.allowed is not expected or verdict.account_id != target:
                wrong.append(f"user, {case}: expected {expected}, got {verdict.allowed} ({verdict.reason})")
    assert not wrong, f"{len(wrong)} of {decided} decisions differ from the table:\n" + "\n".join(wrong[:40])
    assert decided == len(TABLE.rows) * (12 + 16 + 8)


# ---- the accounts a flag is read on ------------------------------------------------------------


async def test_the_trusted_user_flag_is_read_on_the_users_individual_account(client, ctx, make_user):
    """👤 is the acting user's individual account's, whichever account holds the role (here an org)."""
    user = await make_user()
    org = await _org(ctx, ())
    await accounts_service.add_member(ctx, None, org, user.email, "external-asset-provider")

    async def ask(permission: str) -> dict[str, Any]:
        r = await client.post("/api/authorize", json={"permission": permission, "accountId": org},
                              headers=user.headers)
        assert r.status_code == (200 if r.json()["allowed"] else 403)
        return dict(r.json())

    refused = await ask("asset-transfers:create")
    assert refused["allowed"] is False and refused["reason"] == (
        "condition not met for asset-transfers:create: needs trusted-user (the individual account must carry "
        "flag trusted-user) or external-asset-issuer (the targeted account must have subscription "
        "external-asset-issuer)")
    await _flag_account(ctx, org, flags=(TRUSTED_FLAG,))  # on the org: not the user's
    assert (await ask("asset-transfers:create"))["allowed"] is False
    await _flag_account(ctx, user.account_id, flags=(TRUSTED_FLAG,))
    allowed = await ask("asset-transfers:create")
    assert allowed["allowed"] is True and allowed["principal"]["role"] == "external-asset-provider"
    assert allowed["accountId"] == org
    # Either flag suffices: the org's subscription alone, once the user is no longer trusted.
    await _flag_account(ctx, user.account_id, remove_flags=(TRUSTED_FLAG,))
    assert (await ask("asset-transfers:create"))["allowed"] is False
    await _flag_account(ctx, org, subscriptions=(SUBSCRIPTION[ISSUER],))
    assert (await ask("asset-transfers:create"))["allowed"] is True


async def test_an_api_key_on_an_org_has_no_individual_account(ctx):
    """👤 for a key: its account when that is an individual account (the key acts for its one member); a
    key on an org account has none, so only another of the permission's flags can let it through."""
    org = await _org(ctx, ())
    await _flag_account(ctx, org, flags=(TRUSTED_FLAG,))
    issued = await api_keys.create(ctx, None, org, "owner-key", "account-owner")
    assert issued.secret is not None
    key = await api_keys.authenticate(ctx, issued.secret, ctx.clock())
    verdict = await access.authorize(ctx, key, "assets:spend", [])
    assert verdict.allowed is False and verdict.reason == (
        "condition not met for assets:spend: needs trusted-user (the caller has no individual account)")
    await _flag_account(ctx, org, subscriptions=(SUBSCRIPTION[ISSUER],))
    key = await api_keys.authenticate(ctx, issued.secret, ctx.clock())  # the change dropped the cached key
    assert (await access.authorize(ctx, key, "asset-transfers:create", [])).allowed is True


async def test_a_global_cell_checks_the_account_that_owns_the_resource(ctx):
    """✸ with 🗄: an anonymous consumer (on an individual account) pays an org's payment request; not an
    individual account's, nor one of an account that does not exist — refused alike, saying nothing more."""
    _, consumer_account = await _individual_account(ctx, False, ())
    issued = await api_keys.create(ctx, None, consumer_account, "wallet", "anon-consumer")
    assert issued.secret is not None
    consumer = await api_keys.authenticate(ctx, issued.secret, ctx.clock())
    shop, (_, person) = await _org(ctx, ()), await _individual_account(ctx, False, ())
    paid = await access.authorize(ctx, consumer, "payment-requests:pay", [shop])
    assert paid.allowed is True and paid.reason.endswith("globally") and paid.account_id == shop
    for target in (person, str(uuid.uuid4()), consumer_account):
        verdict = await access.authorize(ctx, consumer, "payment-requests:pay", [target])
        assert verdict.allowed is False and verdict.reason == (
            "condition not met for payment-requests:pay: needs org-account (the targeted account type must be org)")
    assert (await access.authorize(ctx, consumer, "payment-requests:read", [person])).allowed is True  # no flag


async def test_the_demo_works_with_the_2026_policy(client, ctx):
    """`KEYTURN_POLICY_FILE=examples/policies/centrapay-2026.yaml make demo`: its test merchant (an org) and
    merchant-terminal keys, minted and seed 001's imported, create payment requests; the owner lists keys."""
    data = await create_demo_data(ctx, "http://keyturn.test")
    merchant = data["test_merchant"]
    for key in (merchant["api_key"], merchant["seed_001_api_key"]):
        r = await client.post("/api/authorize", json={"permission": "payment-requests:create"},
                              headers={"X-Api-Key": key})
        assert r.status_code == 200 and r.json()["accountId"] == merchant["account_id"], r.json()
        r = await client.get("/auth/forward", params={"permission": "payment-requests:refund"},
                             headers={"X-Api-Key": key})
        assert r.status_code == 200 and r.headers["x-keyturn-role"] == "merchant-terminal"
        r = await client.get("/auth/forward", params={"permission": "merchants:read"}, headers={"X-Api-Key": key})
        assert r.status_code == 403 and r.json()["reason"] == "missing permission merchants:read"
    r = await client.post("/api/authorize", json={"permission": "api-keys:list", "accountId": merchant["account_id"]},
                          headers={"Authorization": data["user_access_token"]})
    assert r.status_code == 200 and r.json()["principal"]["role"] == "account-owner"
    # The demo's credential is a merchant-terminal on the demo user's individual account: 🗄 refuses it there.
    token = (await client.post("/api/v2/access/token", json={"grant_type": "client_credentials",
                                                             **data["credential"]})).json()["access_token"]
    r = await client.post("/api/v2/credential/grant/allow", json={"permission": "payment-requests:create"},
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["reason"] == (
        "condition not met for payment-requests:create: needs org-account (the targeted account type must be org)")
    r = await client.post("/api/v2/credential/grant/allow", json={"permission": "payment-requests:read"},
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["principal"]["kind"] == "credential"
