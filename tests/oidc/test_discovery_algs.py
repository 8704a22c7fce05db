"""Discovery lists every algorithm an ID token may be signed with (OIDC Discovery §3; issue 9 item 19)."""

from __future__ import annotations

import jwt
import pytest

from keyturn.core.errors import ApiError
from tests.oidc.helpers import authorize_code, exchange, make_client


async def _advertised(client) -> list[str]:
    meta = (await client.get("/.well-known/openid-configuration")).json()
    return list(meta["id_token_signing_alg_values_supported"])


@pytest.mark.parametrize("settings_overrides", [{"id_token_alg": "EdDSA"}])
async def test_the_configured_id_token_alg_is_advertised_rs256_first(client, ctx, make_user):
    algs = await _advertised(client)
    assert algs[0] == "RS256" and "EdDSA" in algs
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    tokens = (await exchange(client, rp["client_id"], code, verifier)).json()
    header = jwt.get_unverified_header(tokens["id_token"])
    assert header["alg"] == "EdDSA" and header["alg"] in algs


async def test_every_alg_a_client_may_register_is_advertised(client, ctx):
    algs = await _advertised(client)
    assert algs[0] == "RS256" and len(set(algs)) == len(algs)
    for alg in ("RS256", "ES256", "EdDSA", "PS256", "HS256", "none"):
        try:
            await make_client(ctx, id_token_alg=alg)
        except ApiError:
            assert alg not in ("RS256",)  # RS256 must always be registrable
            continue
        assert alg in algs, alg


@pytest.mark.parametrize("settings_overrides", [{"access_token_alg": "RS256", "id_token_alg": "RS256"}])
async def test_an_advertised_alg_a_client_registered_signs_even_when_no_default_uses_it(client, ctx, make_user):
    assert "ES256" in await _advertised(client)
    user = await make_user()
    rp = await make_client(ctx, id_token_alg="ES256")
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    r = await exchange(client, rp["client_id"], code, verifier)
    assert r.status_code == 200, r.text
    assert jwt.get_unverified_header(r.json()["id_token"])["alg"] == "ES256"
