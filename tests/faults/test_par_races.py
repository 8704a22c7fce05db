"""One pushed request_uri (RFC 9126 §4, single use) raced at /authorize from three nodes, on a PostgreSQL
database of its own whose default isolation is each level PostgreSQL offers (the set-up of
tests/faults/test_isolation_races.py): exactly one 303 to the login page, every other answer the 400 page
saying it was used, zero 5xx."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.faults.test_isolation_races import (  # noqa: F401 - the fixtures
    LEVELS,
    RACERS,
    ROUNDS,
    Nodes,
    database,
    nodes,
    pinned,
    write_batch,
)
from tests.oidc.helpers import REDIRECT, make_client, pkce_pair

pytestmark = [pytest.mark.postgres, pytest.mark.faults]


@pytest.mark.parametrize("write_batch", [64], indirect=True)
@pytest.mark.parametrize("database", LEVELS, indirect=True)
async def test_one_request_uri_raced_over_three_nodes(nodes: Nodes) -> None:  # noqa: F811 - the fixture
    rp = await make_client(nodes.ctxs[0])
    totals: Counter[int] = Counter()
    for _ in range(ROUNDS):
        body = {"response_type": "code", "client_id": rp["client_id"], "redirect_uri": REDIRECT, "scope": "openid",
                "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "state": "s"}
        pushed = await nodes.clients[1].post("/par", data=body)
        assert pushed.status_code == 201, pushed.text
        params = {"client_id": rp["client_id"], "request_uri": pushed.json()["request_uri"]}
        answers = await nodes.race(lambda c, params=params: c.get("/authorize", params=params))
        tally = Counter(r.status_code for r in answers)
        assert tally == {303: 1, 400: RACERS - 1}, [(r.status_code, r.text[:200]) for r in answers]
        assert all("already used" in r.text for r in answers if r.status_code == 400)
        totals += tally
    assert totals == {303: ROUNDS, 400: ROUNDS * (RACERS - 1)}
