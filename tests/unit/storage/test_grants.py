"""Storage contract of storage/grants.py on SQLite and PostgreSQL: single use is one conditional write."""

from __future__ import annotations

from typing import cast

import pytest

from keyturn.core.models import Client, Grant, RefreshToken
from keyturn.storage import clients as clients_repo
from keyturn.storage import grants as repo
from keyturn.storage.db import make_engine, migrate, pending_migrations


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


async def test_refresh_token_is_consumed_once_and_grant_revoked_once(engine):
    async with engine.begin() as conn:
        await repo.create_grant(conn, _grant("g1"))
        await repo.insert_refresh_token(conn, digest="d1", grant_id="g1", generation=1, scope="a",
                                        issued_at=1.0, expires_at=50.0)
    async with engine.begin() as conn:
        assert await repo.consume_refresh_token(conn, "d1", "another-client", 2.0) is None  # left unused
        first = await repo.consume_refresh_token(conn, "d1", "c", 2.0)
        assert first == RefreshToken(digest="d1", grant_id="g1", client_id="c", generation=1, scope="a",
                                     issued_at=1.0, expires_at=50.0, used_at=2.0)
        assert await repo.consume_refresh_token(conn, "d1", "c", 3.0) is None
        assert await repo.consume_refresh_token(conn, "unknown", "c", 3.0) is None
        found = await repo.find_refresh_token(conn, "d1")
        assert found is not None and found.used_at == 2.0 and found.client_id == "c"
        assert await repo.revoke_grant(conn, "g1", 4.0, "test") is True
        assert await repo.revoke_grant(conn, "g1", 5.0, "test") is False
        assert cast(Grant, await repo.get_grant(conn, "g1")).revoked_at == 4.0
        assert await repo.get_grant(conn, "nope") is None


async def test_rolled_back_consumption_leaves_the_token_usable(engine):
    async with engine.begin() as conn:
        await repo.create_grant(conn, _grant("g2"))
        await repo.insert_refresh_token(conn, digest="d2", grant_id="g2", generation=1, scope="a",
                                        issued_at=1.0, expires_at=50.0)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            assert await repo.consume_refresh_token(conn, "d2", "c", 2.0) is not None
            raise RuntimeError("crash before commit")
    async with engine.begin() as conn:
        assert await repo.consume_refresh_token(conn, "d2", "c", 3.0) is not None


async def test_revoked_access_tokens_and_client_wide_revocation(engine):
    async with engine.begin() as conn:
        await repo.revoke_access_tokens(conn, {"j1": 10.0})
        await repo.revoke_access_tokens(conn, {"j1": 10.0})  # idempotent
        assert await repo.revoked_jtis(conn, 9.0) == {"j1"} and await repo.revoked_jtis(conn, 11.0) == set()
        await repo.create_grant(conn, _grant("g3"))
        await repo.revoke_grants_of_client(conn, "c", 7.0, "test")
        assert cast(Grant, await repo.get_grant(conn, "g3")).revoked_at == 7.0
