"""One pushed request_uri (RFC 9126 §4, used up when its code is issued) raced at /authorize from three nodes
by a signed-in person, on a PostgreSQL database of its own whose default isolation is each level PostgreSQL
offers (the set-up of tests/faults/test_isolation_races.py): exactly one answer carries a code, every other
is ``invalid_request`` redirected or the page saying it was used; zero 5xx."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from keyturn.services.users import create_user
from tests.faults.test_isolation_races import (  # noqa: F401 - the fixtures
    LEVELS,
    PASSWORD,
    RACERS,
    ROUNDS,
    Nodes,
    database,
    grace,
    nodes,
    pinned,
    write_batch,
)
from tests.oidc.helpers import REDIRECT, login, make_client, pkce_pair, query_of

pytestmark = [pytest.mark.postgres, pytest.mark.faults]


async def _push(c: httpx.AsyncClient, client_id: str) -> dict[str, str]:
    body = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid",
            "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "state": "s"}
    r = await c.post("/par", data=body)
    assert r.status_code == 201, r.text
    return {"client_id": client_id, "request_uri": r.json()["request_uri"]}


def _outcome(r: httpx.Response) -> str:
    if r.status_code == 400:
        assert "already used" in r.text, r.text
        return "page"
    assert r.status_code == 303, (r.status_code, r.text)
    q = query_of(r.headers["location"])
    if "code" in q:
        return "code"
    assert q["error"] == "invalid_request", q
    return "refused"


@pytest.mark.parametrize("write_batch", [64], indirect=True)
@pytest.mark.parametrize("database", LEVELS, indirect=True)
async def test_one_request_uri_raced_over_three_nodes_gives_one_code(nodes: Nodes) -> None:  # noqa: F811
    ctx = nodes.ctxs[0]
    email = f"u{uuid.uuid4().hex[:8]}@example.test"
    await create_user(ctx, email=email, phone_number=None, password=PASSWORD)
    rp = await make_client(ctx)  # first-party: a signed-in person gets the code at /authorize
    first = await nodes.clients[0].get("/authorize", params=await _push(nodes.clients[0], rp["client_id"]))
    signed_in = await login(nodes.clients[0], first.headers["location"], email, PASSWORD)
    assert "code" in query_of(signed_in.headers["location"])
    for c in nodes.clients[1:]:
        c.cookies.update(nodes.clients[0].cookies)  # the same browser, at every node
    for _ in range(ROUNDS):
        params = await _push(nodes.clients[1], rp["client_id"])
        answers = await nodes.race(lambda c, params=params: c.get("/authorize", params=params))
        tally = Counter(_outcome(r) for r in answers)
        assert tally["code"] == 1 and sum(tally.values()) == RACERS, tally
