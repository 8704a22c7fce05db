"""storage/accounts.py: removing a membership reports how many rows went (on SQLite and PostgreSQL)."""

from __future__ import annotations

from keyturn.storage import accounts as accounts_repo


async def test_remove_member_counts_the_rows_it_removed(ctx, make_user):
    owner, member = await make_user(), await make_user()
    now = ctx.clock()
    async with ctx.engine.begin() as conn:
        await accounts_repo.add_member(conn, owner.account_id, member.id, "merchant-terminal", now)
        assert await accounts_repo.count_role(conn, owner.account_id, "merchant-terminal") == 1
        assert await accounts_repo.remove_member(conn, owner.account_id, member.id) == 1
        assert await accounts_repo.remove_member(conn, owner.account_id, member.id) == 0  # already gone
        assert await accounts_repo.membership(conn, owner.account_id, member.id) is None
        assert [m.role for m in await accounts_repo.memberships_of_user(conn, owner.id)] == ["account-owner"]
