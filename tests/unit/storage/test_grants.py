"""Storage contract of storage/grants.py on SQLite and PostgreSQL: single use is one conditional write."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from keyturn.core.models import Client, Grant, RefreshToken
from keyturn.storage import clients as clients_repo
from keyturn.storage import grants as repo
from keyturn.storage.db import make_engine, migrate, pending_migrations
from keyturn.storage.tables import grants

pytestmark = pytest.mark.empty_database  # the engine fixture migrates an empty database itself


@pytest.fixture
async def engine(database_url):
    eng = make_engine(database_url, pool_size=2)
    assert await pending_migrations(eng)
    await migrate(eng)
    assert await pending_migrations(eng) == []
    async with eng.begin() as conn:
        await clients_repo.insert(conn, Client(
            client_id="c", kind="credential", name="c", owner_id=None, account_id=None, role=None,
            secret_digest=None, prev_secret_digest=None, prev_secret_expires_at=None, is_public=False,
            public_id=None, domain=None, scope="a", refresh="1d", status=0, grant_types=("client_credentials",),
            redirect_uris=(), post_logout_redirect_uris=(), allowed_origins=(), first_party=False,
            refresh_enabled=True, id_token_alg=None, revoke_refresh_on_logout=False, expiration=None,
            created_at=1.0, updated_at=1.0))
    yield eng
    await eng.dispose()


def _grant(gid: str) -> Grant:
    return Grant(id=gid, client_id="c", user_id=None, account_id=None, grant_type="client_credentials",
                 scope="a", session_id=None, auth_time=None, created_at=1.0, expires_at=100.0, revoked_at=None)


async def _revoked_at(conn: AsyncConnection, grant_id: str) -> object:
    return (await conn.execute(select(grants.c.revoked_at).where(grants.c.id == grant_id))).scalar_one()


def _token(d: str, gid: str) -> RefreshToken:
    return RefreshToken(digest=d, grant_id=gid, client_id="c", generation=1, scope="a", issued_at=1.0,
                        expires_at=50.0, used_at=None)


async def test_refresh_tokens_are_consumed_once_and_grants_revoked_once(engine):
    async with engine.begin() as conn:
        await repo.create_grants(conn, [_grant("g1"), _grant("g3")])
        await repo.insert_refresh_tokens(conn, [_token("d1", "g1"), _token("d3", "g3")])
    async with engine.begin() as conn:
        found = await repo.find_refresh_tokens(conn, ["d1", "d3", "unknown", "d1"])
        assert found["d1"] == (_token("d1", "g1"), _grant("g1")) and set(found) == {"d1", "d3"}
        assert await repo.consume_refresh_tokens(conn, ["d1", "d1", "unknown"], 2.0) == {"d1"}
        assert await repo.consume_refresh_tokens(conn, ["d1", "d3"], 3.0) == {"d3"}  # d1 was used: a replay
        assert await repo.consume_refresh_tokens(conn, [], 3.0) == set()
        used = await repo.find_refresh_tokens(conn, ["d1"])
        assert used["d1"][0].used_at == 2.0
        assert await repo.revoke_grants(conn, ["g1", "g1", "nope"], 4.0, "test") == {"g1"}
        assert await repo.revoke_grants(conn, ["g1", "g3"], 5.0, "test") == {"g3"}
        assert await _revoked_at(conn, "g1") == 4.0


async def test_rolled_back_consumption_leaves_the_token_usable(engine):
    async with engine.begin() as conn:
        await repo.create_grants(conn, [_grant("g2")])
        await repo.insert_refresh_tokens(conn, [_token("d2", "g2")])
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            assert await repo.consume_refresh_tokens(conn, ["d2"], 2.0) == {"d2"}
            raise RuntimeError("crash before commit")
    async with engine.begin() as conn:
        assert await repo.consume_refresh_tokens(conn, ["d2"], 3.0) == {"d2"}


async def test_revoked_access_tokens_and_client_wide_revocation(engine):
    async with engine.begin() as conn:
        await repo.revoke_access_tokens(conn, {"j1": 10.0})
        await repo.revoke_access_tokens(conn, {"j1": 10.0})  # idempotent
        assert await repo.revoked_jtis(conn, 9.0) == {"j1"} and await repo.revoked_jtis(conn, 11.0) == set()
        await repo.create_grants(conn, [_grant("g3")])
        await repo.revoke_grants_of_client(conn, "c", 7.0, "test")
        assert await _revoked_at(conn, "g3") == 7.0
