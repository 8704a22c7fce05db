"""private_key_jwt (RFC 7523, OIDC Core §9, FAPI 2.0 §5.3.2.1): keyturn.services.client_assertion behind the
one client authentication of /token, /introspect, /revoke and /par. Each rule has a test that fails without it;
/introspect with a junk token answers 200 ``active: false`` exactly when the client authenticated."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from keyturn import metrics
from keyturn.services.client_assertion import (
    ASSERTION_ALGS,
    AssertionRefused,
    choose_key,
    claimed_client,
    verify_assertion,
)
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.oidc.metadata import parse
from keyturn.storage import clients as clients_repo
from tests.assertion_keys import ASSERTION_TYPE, KeyPair, form
from tests.conftest import ISSUER

REDIRECT = "https://app.example.test/cb"


async def _register(ctx, keys: KeyPair | list[KeyPair], **extra) -> str:
    jwks = {"keys": [k.jwk for k in (keys if isinstance(keys, list) else [keys])]}
    meta = parse({"name": "RP", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
                  "jwks": jwks, **extra}, dynamic=False)
    issued = await oidc_clients.create_from(ctx, meta)
    assert issued.secret is None  # its keys authenticate it: no secret is issued
    return issued.record.client_id


async def _introspect(client, data):
    return await client.post("/introspect", data={"token": "x", **data})


def _failures(reason: str) -> float:
    return float(metrics.CLIENT_AUTH_FAILURES.labels(reason)._value.get())


@pytest.fixture
def key():
    return KeyPair("ES256")


async def test_a_good_assertion_authenticates(client, ctx, key):
    cid = await _register(ctx, key)
    r = await _introspect(client, form(cid, key.assertion(cid, now=ctx.clock())))
    assert r.status_code == 200 and r.json() == {"active": False}, r.text
    # client_id is optional: the assertion names the client (RFC 7523 §3)
    r = await _introspect(client, form(None, key.assertion(cid, now=ctx.clock())))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("alg", ["ES384", "PS256", "EdDSA"])
async def test_every_asymmetric_alg(client, ctx, alg):
    pair = KeyPair(alg)
    cid = await _register(ctx, pair)
    r = await _introspect(client, form(cid, pair.assertion(cid, now=ctx.clock())))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("claims", "reason"), [
    ({"aud": ISSUER + "/token"}, "bad_assertion"),  # the token endpoint URL: FAPI 2.0 wants the issuer only
    ({"aud": "https://other.example"}, "bad_assertion"),
    ({"aud": [ISSUER]}, "bad_assertion"),  # a list, even holding the issuer (FAPI 2.0: a string)
    ({"aud": None}, "bad_assertion"),
    ({"exp": -10}, "bad_assertion"),  # expired (relative to now)
    ({"exp": 3600}, "bad_assertion"),  # too far ahead
    ({"exp": None}, "bad_assertion"),
    ({"iat": None}, "bad_assertion"),
    ({"iat": 600}, "bad_assertion"),  # issued in the future
    ({"nbf": 600}, "bad_assertion"),
    ({"jti": None}, "bad_assertion"),
    ({"jti": ""}, "bad_assertion"),
    ({"jti": 7}, "bad_assertion"),
    ({"iss": "ktc_someoneelse"}, "bad_assertion"),
    ({"sub": "ktc_someoneelse"}, "bad_assertion"),
    ({"exp": "soon"}, "bad_assertion"),
])
async def test_claims_rules(client, ctx, key, claims, reason):
    cid = await _register(ctx, key)
    now = ctx.clock()
    relative = {k: (int(now) + v if k in ("exp", "iat", "nbf") and isinstance(v, int) else v)
                for k, v in claims.items()}
    before = _failures(reason)
    assertion = key.assertion(cid, now=now, **relative)
    r = await _introspect(client, form(None if "sub" in claims else cid, assertion))
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    assert r.headers["cache-control"] == "no-store"
    if "sub" not in claims:
        assert _failures(reason) == before + 1


async def test_a_replayed_assertion_is_refused(client, ctx, key):
    cid = await _register(ctx, key)
    assertion = key.assertion(cid, now=ctx.clock())
    assert (await _introspect(client, form(cid, assertion))).status_code == 200
    before = _failures("replayed_assertion")
    r = await _introspect(client, form(cid, assertion))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert _failures("replayed_assertion") == before + 1
    # the same jti from another client is that client's own
    other = KeyPair("ES256")
    cid2 = await _register(ctx, other)
    jti = jwt.decode(assertion, options={"verify_signature": False})["jti"]
    r = await _introspect(client, form(cid2, other.assertion(cid2, now=ctx.clock(), jti=jti)))
    assert r.status_code == 200


async def test_symmetric_and_none_algs_are_refused(client, ctx, key):
    cid = await _register(ctx, key)
    now = ctx.clock()
    hs = jwt.encode({"iss": cid, "sub": cid, "aud": ISSUER, "iat": int(now), "exp": int(now) + 60, "jti": "a"},
                    "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    none = jwt.encode({"iss": cid, "sub": cid, "aud": ISSUER, "iat": int(now), "exp": int(now) + 60, "jti": "b"},
                      "", algorithm="none", headers={"kid": "k1"})
    for bad in (hs, none, "not-a-jwt", "e30." * 3000):
        r = await _introspect(client, form(cid, bad))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text


async def test_rs256_only_when_registered(client, ctx):
    pair = KeyPair("RS256")
    cid = await _register(ctx, pair)
    r = await _introspect(client, form(cid, pair.assertion(cid, now=ctx.clock())))
    assert r.status_code == 401  # not in the default set
    cid = await _register(ctx, pair, token_endpoint_auth_signing_alg="RS256")
    r = await _introspect(client, form(cid, pair.assertion(cid, now=ctx.clock())))
    assert r.status_code == 200, r.text
    # a client that registered one alg uses that one only
    es = KeyPair("ES256", kid="e")
    cid = await _register(ctx, [es, KeyPair("PS256", kid="p")], token_endpoint_auth_signing_alg="PS256")
    r = await _introspect(client, form(cid, es.assertion(cid, now=ctx.clock())))
    assert r.status_code == 401


async def test_keys_are_the_clients_own(client, ctx, key):
    cid = await _register(ctx, key)
    other = KeyPair("ES256", kid="k1")  # same kid, another client's key
    await _register(ctx, other)
    r = await _introspect(client, form(cid, other.assertion(cid, now=ctx.clock())))
    assert r.status_code == 401
    r = await _introspect(client, form(cid, key.assertion(cid, now=ctx.clock(), headers={"kid": "unknown"})))
    assert r.status_code == 401
    # a jwk header naming another key is not used (only the client's registered keys)
    r = await _introspect(client, form(cid, other.assertion(cid, now=ctx.clock(), headers={"jwk": other.jwk})))
    assert r.status_code == 401


async def test_no_kid_uses_the_one_fitting_key(client, ctx):
    es = KeyPair("ES256", kid=None)
    ed = KeyPair("EdDSA", kid=None)
    cid = await _register(ctx, [es, ed])
    assert (await _introspect(client, form(cid, es.assertion(cid, now=ctx.clock())))).status_code == 200
    assert (await _introspect(client, form(cid, ed.assertion(cid, now=ctx.clock())))).status_code == 200
    twins = [KeyPair("ES256", kid=None), KeyPair("ES256", kid=None)]
    cid = await _register(ctx, twins)
    assert (await _introspect(client, form(cid, twins[0].assertion(cid, now=ctx.clock())))).status_code == 401


async def test_method_must_match_the_registration(client, ctx, key, make_credential):
    cred = await make_credential()
    before = _failures("wrong_method")
    r = await _introspect(client, form(cred.client_id, key.assertion(cred.client_id, now=ctx.clock())))
    assert r.status_code == 401 and r.json() == {"error": "invalid_client",
                                                 "error_description": "client authentication failed"}
    assert _failures("wrong_method") == before + 1
    # and a private_key_jwt client has no secret to send
    cid = await _register(ctx, key)
    r = await _introspect(client, {"client_id": cid, "client_secret": "ktcs_guess"})
    assert r.status_code == 401
    r = await client.post("/introspect", data={"token": "x"}, auth=(cid, "ktcs_guess"))
    assert r.status_code == 401
    # unknown client, public client
    r = await _introspect(client, form(None, key.assertion("ktc_" + "a" * 22, now=ctx.clock())))
    assert r.status_code == 401
    spa = (await oidc_clients.create(ctx, name="SPA", public=True, redirect_uris=[REDIRECT])).record.client_id
    r = await _introspect(client, form(spa, key.assertion(spa, now=ctx.clock())))
    assert r.status_code == 401
    meta = (await client.get("/.well-known/openid-configuration")).json()
    for endpoint in ("token", "introspection", "revocation"):
        assert "private_key_jwt" in meta[f"{endpoint}_endpoint_auth_methods_supported"]
        assert set(ASSERTION_ALGS) <= set(meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"])
        assert not {"HS256", "none"} & set(meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"])


async def test_malformed_requests(client, ctx, key):
    cid = await _register(ctx, key)
    a = key.assertion(cid, now=ctx.clock())
    r = await _introspect(client, {"client_id": cid, "client_assertion_type": "urn:x", "client_assertion": a})
    assert r.status_code == 401 and ASSERTION_TYPE in r.json()["error_description"]
    r = await _introspect(client, {"client_id": cid, "client_assertion_type": ASSERTION_TYPE})
    assert r.status_code == 401
    r = await _introspect(client, {**form(cid, a), "client_secret": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await client.post("/introspect", data={"token": "x", **form(None, a)}, auth=(cid, "s"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await _introspect(client, form("ktc_" + "b" * 22, a))  # client_id differs from the assertion's
    assert r.status_code == 401
    r = await _introspect(client, form(None, "garbage"))  # names no client
    assert r.status_code == 401
    r = await _introspect(client, form(None, key.assertion("not a client id", now=ctx.clock())))
    assert r.status_code == 401


async def test_inactive_client(client, ctx, key):
    cid = await _register(ctx, key)
    async with ctx.engine.begin() as conn:
        await clients_repo.update_fields(conn, cid, status=1)  # disabled
    ctx.changed("client", cid)
    before = _failures("inactive_client")
    r = await _introspect(client, form(cid, key.assertion(cid, now=ctx.clock())))
    assert r.status_code == 401
    assert _failures("inactive_client") == before + 1


def test_choose_key_unit():
    es = KeyPair("ES256")
    assert choose_key(es.jwks, "k1", "ES256").key is not None
    for jwks, kid, alg in (({"keys": []}, "k1", "ES256"), (None, "k1", "ES256"), (es.jwks, "k1", "ES384"),
                           ({"keys": [{**es.jwk, "use": "enc"}]}, "k1", "ES256"),
                           ({"keys": [{**es.jwk, "x": "!!"}]}, "k1", "ES256")):
        with pytest.raises(AssertionRefused):
            choose_key(jwks, kid, alg)
    assert claimed_client("x" * 9000) == ""
    payload = base64.urlsafe_b64encode(json.dumps({"sub": 5}).encode()).rstrip(b"=").decode()
    assert claimed_client(f"eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln") == ""


async def test_verify_assertion_guards_on_its_own(ctx, key):
    """The checks hold when called directly too (client_auth refuses these earlier, by the claimed client)."""
    cid = await _register(ctx, key)
    rp = await ctx.client(cid, ctx.clock())
    for bad in ("x" * 9000, "not-a-jws", key.assertion(cid, now=ctx.clock(), sub="ktc_" + "c" * 22)):
        with pytest.raises(AssertionRefused) as exc:
            await verify_assertion(ctx, rp, bad, ctx.clock())
        assert exc.value.reason == "bad_assertion"
