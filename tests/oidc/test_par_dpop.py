"""A DPoP proof at the pushed authorization request endpoint (RFC 9449 §10.1), through the served front on SQLite
and PostgreSQL: the proof is checked as at the token endpoint (``htu`` the PAR endpoint's URL, ``jti`` once, the
nonce when required) and its key's thumbprint becomes the request's ``dpop_jkt``, so the code is exchanged only
with a proof of that key."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from keyturn.storage import tables as t
from tests.conftest import ISSUER
from tests.dpop_keys import DPoPKey
from tests.oidc.helpers import make_client, pkce_pair
from tests.oidc.test_pushed_authorization_requests import _finish, _par_body

PAR = ISSUER + "/par"
TOKEN = ISSUER + "/token"


async def _push(client: httpx.AsyncClient, rp: dict[str, Any], proof: str | None, challenge: str,
                **extra: str) -> httpx.Response:
    headers = {"DPoP": proof} if proof is not None else {}
    return await client.post("/par", data=_par_body(rp["client_id"], challenge, **extra), headers=headers)


async def _code(client: httpx.AsyncClient, rp: dict[str, Any], request_uri: str, user: Any) -> str:
    r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": request_uri})
    assert r.status_code == 303, r.text
    return (await _finish(client, r.headers["location"], user))["code"]


def _exchange(rp: dict[str, Any], code: str, verifier: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": "https://app.example.test/cb", "client_id": rp["client_id"]}


async def test_a_proof_at_par_binds_the_code_to_its_key(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)  # public: its refresh tokens are bound too
    key, other = DPoPKey("ES256"), DPoPKey("EdDSA")
    verifier, challenge = pkce_pair()
    r = await _push(client, rp, key.proof("POST", PAR, iat=clock.now), challenge)
    assert r.status_code == 201, r.text
    assert "dpop-nonce" not in r.headers
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(t.pushed_requests))).mappings().one()
    assert row["params"]["dpop_jkt"] == key.jkt
    code = await _code(client, rp, r.json()["request_uri"], user)
    data = _exchange(rp, code, verifier)
    for headers in ({}, {"DPoP": other.proof("POST", TOKEN, iat=clock.now)}):  # none, another key
        refused = await client.post("/token", data=data, headers=headers)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_dpop_proof", refused.text
    ok = await client.post("/token", data=data, headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert ok.status_code == 200, ok.text
    assert ok.json()["token_type"] == "DPoP"
    claims = jwt.decode(ok.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_a_dpop_jkt_beside_the_proof_must_be_its_keys(client, ctx, clock):
    rp = await make_client(ctx)
    key, other = DPoPKey("ES256"), DPoPKey("ES256")
    challenge = pkce_pair()[1]
    r = await _push(client, rp, key.proof("POST", PAR, iat=clock.now), challenge, dpop_jkt=other.jkt)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert "dpop_jkt" in r.json()["error_description"]
    r = await _push(client, rp, key.proof("POST", PAR, iat=clock.now), challenge, dpop_jkt=key.jkt)
    assert r.status_code == 201, r.text


async def test_a_replayed_proof_or_another_htu_or_method_is_invalid_dpop_proof(client, ctx, clock):
    rp = await make_client(ctx)
    key = DPoPKey("ES256")
    challenge = pkce_pair()[1]
    proof = key.proof("POST", PAR, iat=clock.now)
    assert (await _push(client, rp, proof, challenge)).status_code == 201
    for bad in (proof,  # replayed (jti seen)
                key.proof("POST", TOKEN, iat=clock.now),  # the token endpoint's URL
                key.proof("GET", PAR, iat=clock.now),
                key.proof("POST", PAR, iat=clock.now - 3600),  # outside the iat window
                "not-a-jwt"):
        r = await _push(client, rp, bad, challenge)
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    async with ctx.engine.connect() as conn:
        assert len((await conn.execute(select(t.pushed_requests))).all()) == 1


async def test_two_dpop_headers_are_refused(client, ctx, clock):
    rp = await make_client(ctx)
    key = DPoPKey("ES256")
    proofs = [("DPoP", key.proof("POST", PAR, iat=clock.now)), ("DPoP", key.proof("POST", PAR, iat=clock.now))]
    r = await client.post("/par", data=_par_body(rp["client_id"], pkce_pair()[1]), headers=proofs)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text


@pytest.mark.parametrize("settings_overrides", [{"dpop_nonce_required": True, "dpop_nonce_secret": "n" * 40}])
async def test_a_required_nonce_is_asked_for_at_par(client, ctx, clock):
    rp = await make_client(ctx)
    key = DPoPKey("ES256")
    challenge = pkce_pair()[1]
    r = await _push(client, rp, key.proof("POST", PAR, iat=clock.now), challenge)
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    nonce = r.headers["dpop-nonce"]
    r = await _push(client, rp, key.proof("POST", PAR, iat=clock.now, nonce=nonce), challenge)
    assert r.status_code == 201, r.text
    assert r.headers["dpop-nonce"] == nonce


async def test_a_dpop_bound_client_may_push_without_a_proof(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx, public=False, dpop_bound_access_tokens=True)
    key = DPoPKey("ES256")
    verifier, challenge = pkce_pair()
    r = await client.post("/par", data=_par_body(rp["client_id"], challenge), auth=(rp["client_id"],
                                                                                     rp["client_secret"]))
    assert r.status_code == 201, r.text
    code = await _code(client, rp, r.json()["request_uri"], user)
    ok = await client.post("/token", data={**_exchange(rp, code, verifier), "client_secret": rp["client_secret"]},
                           headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert ok.status_code == 200 and ok.json()["token_type"] == "DPoP", ok.text


@pytest.mark.parametrize("settings_overrides", [{"dpop": False}])
async def test_with_dpop_off_a_proof_at_par_is_ignored(client, ctx, clock):
    rp = await make_client(ctx)
    r = await _push(client, rp, "not-a-jwt", pkce_pair()[1])
    assert r.status_code == 201, r.text
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(t.pushed_requests))).mappings().one()
    assert "dpop_jkt" not in row["params"]
