"""KEYTURN_CLOCK_LEEWAY where a time stamp written by one node is checked by another (issue 12 item 6):
a code's, an interaction's and a login session's expiry hold for the leeway past their time, not longer;
a node whose clock is behind the key creator's still signs (docs/tokens.md, "Time checks")."""

from __future__ import annotations

from keyturn.services.oidc.flow import INTERACTION_TTL
from tests.oidc.helpers import authorize_code, authorize_params, exchange, make_client, pkce_pair, query_of


async def test_a_code_redeems_until_its_expiry_plus_the_leeway(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)
    late = ctx.settings.code_ttl + ctx.settings.clock_leeway
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    clock.advance(late - 1)
    assert (await exchange(client, rp["client_id"], code, verifier)).status_code == 200
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    clock.advance(late)
    r = await exchange(client, rp["client_id"], code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_an_idle_session_lives_the_leeway_past_its_idle_timeout(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)
    await authorize_code(client, rp["client_id"], user)
    _, challenge = pkce_pair()
    params = authorize_params(rp["client_id"], challenge, prompt="none")
    clock.advance(ctx.settings.session_idle_ttl + ctx.settings.clock_leeway - 1)
    assert "code" in query_of((await client.get("/authorize", params=params)).headers["location"])
    clock.advance(ctx.settings.session_idle_ttl + ctx.settings.clock_leeway)
    assert query_of((await client.get("/authorize", params=params)).headers["location"])["error"] == "login_required"


async def test_an_interaction_lives_the_leeway_past_its_expiry(client, ctx, clock):
    rp = await make_client(ctx)
    for late, alive in ((INTERACTION_TTL + ctx.settings.clock_leeway - 1, True),
                        (INTERACTION_TTL + ctx.settings.clock_leeway, False)):
        _, challenge = pkce_pair()
        r = await client.get("/authorize", params=authorize_params(rp["client_id"], challenge))
        location = r.headers["location"]
        assert location.startswith("/interaction/")
        clock.advance(late)
        assert ((await client.get(location)).status_code == 200) is alive


async def test_a_node_behind_the_key_creator_signs_with_the_earliest_unretired_key(ctx, clock):
    first = {alg: ctx.keys.signing_key(alg).kid for alg in ctx.keys.needed_algs}
    await ctx.keys.reload(clock() - 8)  # this node's clock is 8 s behind the one that created the keys
    assert {alg: ctx.keys.signing_key(alg).kid for alg in first} == first
    clock.advance(100)
    rotated = await ctx.keys.rotate("ES256", clock())  # activates now + prepublish (0): retires the first
    await ctx.keys.reload(clock() - 8)
    assert ctx.keys.signing_key("ES256").kid == first["ES256"]  # on the slow clock the first is still active
    await ctx.keys.reload(clock())
    assert ctx.keys.signing_key("ES256").kid == rotated
