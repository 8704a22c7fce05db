"""Two nodes: two separate ``keyturn serve`` processes (not workers of one) on one PostgreSQL database, with
identical settings (one issuer), as behind a load balancer (docs/deployment.md).

A token minted on one node is introspected, refreshed and revoked through the other; a revocation, a
deleted credential and a signing-key rotation reach the other node within the bounds the caches set
(revocations and client records: ``KEYTURN_CLIENT_CACHE_TTL``, 1 s; the key set: keyring.py's
``JWKS_RELOAD_SECONDS`` for the published set and ``RELOAD_SECONDS`` for signing). Each test prints what
it measured (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from keyturn.services.keyring import JWKS_RELOAD_SECONDS, RELOAD_SECONDS
from tests.conftest import PG_BASE, require_service
from tests.server import LiveServer, start_server

pytestmark = [pytest.mark.server, pytest.mark.postgres, pytest.mark.timing]

ISSUER = "http://keyturn.nodes.test"  # both nodes' issuer (the load balancer's name), not either node's address
CACHE_TTL = 1.0  # KEYTURN_CLIENT_CACHE_TTL's default: the revocation poll of every worker of every node
SLACK = 0.5  # scheduling on a shared 2-core machine; a bound measured above TTL + SLACK fails
PUSH_BOUND = 0.3  # with Redis: a change notice (pub/sub) reaches the other node well before the poll
PASSWORD = "correct horse battery staple"


async def _database(create: bool, name: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(PG_BASE.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class Nodes:
    def __init__(self, a: LiveServer, b: LiveServer) -> None:
        self.a, self.b = a, b
        owner = a.cli("users", "create", "--email", "nodes@example.test", "--password", PASSWORD)
        self.owner_id = owner["id"]
        self.bearer = {"Authorization": "Bearer " + a.cli("tokens", "issue", "--user", self.owner_id)["access_token"]}

    def credential(self, name: str) -> tuple[str, str]:
        data = self.a.cli("credentials", "create", "--user", self.owner_id, "--name", name, "--scope", "a",
                          "--refresh", "1d")["data"]
        return data["username"], data["password"]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = "keyturn_purge_nodes_" + uuid.uuid4().hex[:8]
    asyncio.run(_database(True, name))
    url = PG_BASE.rsplit("/", 1)[0] + "/" + name
    workdir = tmp_path_factory.mktemp("nodes")
    env = {"KEYTURN_ISSUER": ISSUER, "KEYTURN_REDIS_URL": "redis://127.0.0.1:6379/0",
           "KEYTURN_REDIS_PREFIX": f"{name}:"}
    servers: list[LiveServer] = []
    try:
        servers.append(start_server(url, workdir, env_extra=env))  # migrates; the second finds it done
        servers.append(start_server(url, workdir, env_extra=env))
        yield Nodes(*servers)
    finally:
        for s in servers:
            s.stop()
        asyncio.run(_database(False, name))


def _cc(node: LiveServer, auth: tuple[str, str]) -> httpx.Response:
    return httpx.post(f"{node.url}/token", data={"grant_type": "client_credentials"}, auth=auth)


def _active(node: LiveServer, auth: tuple[str, str], token: str) -> bool:
    r = httpx.post(f"{node.url}/introspect", data={"token": token}, auth=auth)
    assert r.status_code == 200, r.text
    return bool(r.json()["active"])


def _until(condition: Callable[[], bool], limit: float, step: float = 0.02) -> float:
    """Seconds until ``condition()`` holds, polled every ``step``; fails past ``limit``."""
    start = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - start
        assert elapsed < limit, f"not within {limit} s"
        time.sleep(step)
    return time.monotonic() - start


def test_a_token_minted_on_one_node_is_introspected_refreshed_and_revoked_through_the_other(nodes: Nodes) -> None:
    auth = nodes.credential("nodes-flow")
    first = _cc(nodes.a, auth).json()
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["iss"] == ISSUER
    assert _active(nodes.b, auth, first["access_token"])
    r = httpx.post(f"{nodes.b.url}/token", auth=auth,
                   data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert _active(nodes.a, auth, second["access_token"])
    # The spent token replayed on A: reuse detected across nodes, the family revoked on both.
    replay = httpx.post(f"{nodes.a.url}/token", auth=auth,
                        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert not _active(nodes.a, auth, second["access_token"])
    bound = _until(lambda: not _active(nodes.b, auth, second["access_token"]), CACHE_TTL + SLACK)
    print(f"family revoked on A (reuse): B refuses its access token after {bound:.3f} s")
    assert bound <= PUSH_BOUND
    third = _cc(nodes.a, auth).json()
    assert httpx.post(f"{nodes.b.url}/revoke", data={"token": third["refresh_token"]}, auth=auth).status_code == 200
    assert httpx.post(f"{nodes.a.url}/token", auth=auth, data={
        "grant_type": "refresh_token", "refresh_token": third["refresh_token"]}).status_code == 400


def test_a_revocation_reaches_the_other_node_by_notice(nodes: Nodes) -> None:
    auth = nodes.credential("nodes-revoke")
    lags = []
    for i in range(5):
        origin, other = (nodes.a, nodes.b) if i % 2 == 0 else (nodes.b, nodes.a)
        token = _cc(origin, auth).json()["access_token"]
        assert _active(other, auth, token)  # the other node has it loaded: the revocation must replace it
        assert httpx.post(f"{origin.url}/revoke", data={"token": token}, auth=auth).status_code == 200
        assert not _active(origin, auth, token)  # the revoking node at once
        lags.append(_until(lambda: not _active(other, auth, token), CACHE_TTL + SLACK))
    print(f"revocation reaches the other node in {min(lags):.3f}–{max(lags):.3f} s "
          f"(Redis notice; the {CACHE_TTL:g} s poll is the fallback)")
    assert max(lags) <= PUSH_BOUND


def test_a_credential_deleted_on_one_node_stops_minting_on_the_other(nodes: Nodes) -> None:
    auth = nodes.credential("nodes-delete")
    assert _cc(nodes.b, auth).status_code == 200  # B has the client cached
    r = httpx.delete(f"{nodes.a.url}/api/v2/credential/{auth[0]}", headers=nodes.bearer)
    assert r.status_code == 200, r.text
    assert _cc(nodes.a, auth).status_code == 401
    lag = _until(lambda: _cc(nodes.b, auth).status_code == 401, CACHE_TTL + SLACK)
    print(f"credential deleted on A: B stops minting after {lag:.3f} s")
    assert lag <= PUSH_BOUND


def test_a_key_rotation_is_seen_by_both_nodes(nodes: Nodes) -> None:
    auth = nodes.credential("nodes-keys")
    old = jwt.get_unverified_header(_cc(nodes.b, auth).json()["access_token"])["kid"]
    for node in (nodes.a, nodes.b):  # both nodes' key sets freshly loaded: the rotation must replace them
        httpx.get(f"{node.url}/jwks")
        _cc(node, auth)
    rotated = nodes.a.cli("keys", "rotate")  # one operator command, against the shared database
    kid = rotated["kid"]
    assert kid != old

    def published(node: LiveServer) -> bool:
        return kid in {k["kid"] for k in httpx.get(f"{node.url}/jwks").json()["keys"]}

    def signs(node: LiveServer) -> bool:
        token = _cc(node, auth).json()["access_token"]
        return bool(jwt.get_unverified_header(token)["kid"] == kid)

    # Measured from the key's creation (the rotation's commit, as its created_at says), not from the command's
    # return: the CLI's own start-up is no part of the lag.
    created = next(k["created_at"] for k in rotated["keys"] if k["kid"] == kid)
    seen, signing = {}, {}
    for n, node in (("A", nodes.a), ("B", nodes.b)):
        _until(lambda node=node: published(node), JWKS_RELOAD_SECONDS + SLACK, 0.05)  # type: ignore[misc]
        seen[n] = time.time() - created
    for n, node in (("A", nodes.a), ("B", nodes.b)):
        _until(lambda node=node: signs(node), RELOAD_SECONDS + SLACK, 0.05)  # type: ignore[misc]
        signing[n] = time.time() - created
    assert max(seen.values()) <= JWKS_RELOAD_SECONDS + SLACK + 0.5  # + the CLI's exit
    assert max(signing.values()) <= RELOAD_SECONDS + SLACK + 0.5
    # A token B signs with the new key is accepted by A, and the other way round.
    assert _active(nodes.a, auth, _cc(nodes.b, auth).json()["access_token"])
    assert _active(nodes.b, auth, _cc(nodes.a, auth).json()["access_token"])
    print(f"key rotation (from its commit): new kid published by A/B after {seen['A']:.2f}/{seen['B']:.2f} s, "
          f"signing on A/B by {signing['A']:.2f}/{signing['B']:.2f} s (bounds {JWKS_RELOAD_SECONDS:g}/"
          f"{RELOAD_SECONDS:g} s)")


def test_client_auth_failures_are_counted_across_nodes(nodes: Nodes) -> None:
    """KEYTURN_CLIENT_AUTH_MAX_FAILURES (20 a minute) counts one client's failures on every node together."""
    require_service("Redis", "127.0.0.1", 6379)
    client_id, _ = nodes.credential("nodes-limits")
    wrong = (client_id, "not-the-secret")
    answers: list[Any] = []
    for node in (nodes.a, nodes.b):
        answers += [_cc(node, wrong).status_code for _ in range(12)]
    assert answers[-1] == 429, answers  # 24 failures on two nodes: past 20
