"""A new user's individual account makes them a member with the policy's owner role (issue 9 item 19)."""

from __future__ import annotations

import pytest

from keyturn.storage import accounts as accounts_repo

POLICY = """\
version: 1
owner_role: proprietor
permissions:
  api-keys:create: {}
  api-keys:list: {}
  accounts:read: {}
roles:
  proprietor:
    permissions: [api-keys:create, api-keys:list, accounts:read]
  cashier:
    permissions: [accounts:read]
"""


@pytest.fixture
def settings_overrides(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return {"policy_file": path}


async def test_a_new_users_individual_account_is_owned_with_the_policys_owner_role(ctx, make_user):
    user = await make_user()
    async with ctx.engine.connect() as conn:
        member = await accounts_repo.membership(conn, user.account_id, user.id)
        assert await accounts_repo.count_role(conn, user.account_id, "account-owner") == 0
    assert member is not None and member.role == "proprietor" and member.account_type == "individual"
