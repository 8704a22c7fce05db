"""DPoP (RFC 9449) through the served front, on SQLite and PostgreSQL: the token endpoint binds tokens to the
proof's key (``token_type: DPoP``, ``cnf.jkt``), introspection shows the binding, and every resource Keyturn
serves (management API, decision endpoints, userinfo) accepts a bound token only as ``DPoP`` with a fresh proof
of that key for that request. The FAPI 2.0 negative cases are each a test here."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.conftest import ISSUER
from tests.dpop_keys import DPoPKey
from tests.oidc.helpers import authorize_code, exchange, make_client

TOKEN = ISSUER + "/token"
MEMBERSHIPS = ISSUER + "/api/account-memberships"


@pytest.fixture
def key() -> DPoPKey:
    return DPoPKey("ES256")


async def dpop_token(client: Any, cred: Any, key: DPoPKey, clock: Any, path: str = "/token") -> dict[str, Any]:
    r = await client.post(path, data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers={"DPoP": key.proof("POST", ISSUER + path, iat=clock.now)})
    assert r.status_code == 200, r.text
    return dict(r.json())


def dpop_headers(key: DPoPKey, token: str, clock: Any, method: str = "GET", url: str = MEMBERSHIPS,
                 **kw: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, token=token, iat=clock.now, **kw)}


@pytest.mark.parametrize("path", ["/token", "/api/v2/access/token"])
async def test_client_credentials_with_a_proof_is_a_dpop_token_bound_to_its_key(client, make_credential, key,
                                                                               clock, path):
    cred = await make_credential(refresh="none")
    body = await dpop_token(client, cred, key, clock, path)
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_without_a_proof_the_token_stays_bearer(client, make_credential):
    cred = await make_credential(refresh="none")
    body = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in jwt.decode(body["access_token"], options={"verify_signature": False})


async def test_introspection_returns_cnf_and_token_type(client, make_credential, key, clock):
    cred = await make_credential(refresh="none")
    token = (await dpop_token(client, cred, key, clock))["access_token"]
    r = await client.post("/introspect", data={"token": token}, auth=cred.basic)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True
    assert r.json()["token_type"] == "DPoP"
    assert r.json()["cnf"] == {"jkt": key.jkt}


@pytest.mark.parametrize("case", ["htm", "htu", "query-only-differs", "two-headers", "garbage", "replay"])
async def test_token_endpoint_refuses_a_bad_proof_with_invalid_dpop_proof(client, make_credential, key, clock,
                                                                          case):
    cred = await make_credential(refresh="none")
    good = key.proof("POST", TOKEN, iat=clock.now)
    headers: Any = {
        "htm": {"DPoP": key.proof("GET", TOKEN, iat=clock.now)},
        "htu": {"DPoP": key.proof("POST", ISSUER + "/introspect", iat=clock.now)},
        "query-only-differs": {"DPoP": key.proof("POST", TOKEN + "?a=b", iat=clock.now)},
        "two-headers": [("DPoP", good), ("DPoP", key.proof("POST", TOKEN, iat=clock.now))],
        "garbage": {"DPoP": "not-a-jwt"},
        "replay": {"DPoP": good},
    }[case]
    if case == "replay":
        first = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                                  headers=headers)
        assert first.status_code == 200
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic, headers=headers)
    if case == "query-only-differs":  # RFC 9449 §4.3 (9): the query is ignored
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_dpop_proof"
    assert r.headers["cache-control"] == "no-store"


async def test_management_api_accepts_a_dpop_bound_token_with_a_proof(client, make_credential, key, clock):
    cred = await make_credential(refresh="none")
    token = (await dpop_token(client, cred, key, clock))["access_token"]
    r = await client.get("/api/account-memberships", headers=dpop_headers(key, token, clock))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("case", ["bearer", "bare", "no-proof", "other-key", "htm", "htu", "ath", "replay", "old-iat"])
async def test_management_api_refuses_each_negative_case(client, make_credential, key, clock, case):
    cred = await make_credential(refresh="none")
    token = (await dpop_token(client, cred, key, clock))["access_token"]
    other = DPoPKey("ES256")
    headers = {
        "bearer": {"Authorization": f"Bearer {token}"},
        "bare": {"Authorization": token},
        "no-proof": {"Authorization": f"DPoP {token}"},
        "other-key": dpop_headers(other, token, clock),
        "htm": dpop_headers(key, token, clock, method="POST"),
        "htu": dpop_headers(key, token, clock, url=ISSUER + "/api/credentials"),
        "ath": {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", MEMBERSHIPS, token="x", iat=clock.now)},
        "replay": dpop_headers(key, token, clock),
        "old-iat": {"Authorization": f"DPoP {token}",
                    "DPoP": key.proof("GET", MEMBERSHIPS, token=token, iat=clock.now - 120)},
    }[case]
    if case == "replay":
        assert (await client.get("/api/account-memberships", headers=headers)).status_code == 200
    r = await client.get("/api/account-memberships", headers=headers)
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("DPoP ")
    assert 'algs="ES256 PS256 EdDSA ES384"' in challenge
    expected = "invalid_token" if case in ("bearer", "bare", "other-key") else "invalid_dpop_proof"
    assert f'error="{expected}"' in challenge
    assert r.json()["error"] == "UNAUTHORIZED"


async def test_an_unbound_token_sent_as_dpop_is_refused(client, make_credential, key, clock):
    cred = await make_credential(refresh="none")
    token = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    r = await client.get("/api/account-memberships", headers=dpop_headers(key, token["access_token"], clock))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_decision_endpoint_and_forward_auth_check_the_proof(client, make_credential, key, clock):
    cred = await make_credential(refresh="none")
    token = (await dpop_token(client, cred, key, clock))["access_token"]
    r = await client.post("/api/authorize", json={"permission": "accounts:read"},
                          headers=dpop_headers(key, token, clock, method="POST", url=ISSUER + "/api/authorize"))
    assert r.status_code in (200, 403), r.text  # authenticated: a decision, not a 401
    assert (await client.post("/api/authorize", json={"permission": "accounts:read"},
                              headers={"Authorization": f"Bearer {token}"})).status_code == 401
    # forward-auth: the proof names the gateway's original request, forwarded in its headers
    original = "https://api.shop.example/payments"
    fwd = {**dpop_headers(key, token, clock, method="POST", url=original + "?x=1"),
           "X-Forwarded-Method": "POST", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.shop.example",
           "X-Forwarded-Uri": "/payments?x=1", "X-Keyturn-Permission": "accounts:read"}
    r = await client.get("/auth/forward", headers=fwd)
    assert r.status_code in (200, 403), r.text
    nginx = {**dpop_headers(key, token, clock, method="PUT", url=original),
             "X-Original-Method": "PUT", "X-Original-URL": original, "X-Keyturn-Permission": "accounts:read"}
    assert (await client.get("/auth/forward", headers=nginx)).status_code in (200, 403)
    wrong = {**dpop_headers(key, token, clock, method="POST", url=original),
             "X-Forwarded-Method": "POST", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.shop.example",
             "X-Forwarded-Uri": "/refunds", "X-Keyturn-Permission": "accounts:read"}
    r = await client.get("/auth/forward", headers=wrong)
    assert r.status_code == 401
    assert 'error="invalid_dpop_proof"' in r.headers["www-authenticate"]


async def test_a_client_registered_dpop_bound_needs_a_proof(client, ctx, key, clock):
    rp = await make_client(ctx, public=False, dpop_bound_access_tokens=True, redirect_uris=["https://rp.example/cb"])
    assert rp["dpop_bound_access_tokens"] is True
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "ktrt_x"},
                          auth=(rp["client_id"], rp["client_secret"]))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_dpop_proof"


async def test_public_client_code_flow_with_dpop_jkt_and_bound_refresh(client, ctx, make_user, key, clock):
    rp = await make_client(ctx)  # public, first party
    user = await make_user()
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, scope="openid offline_access",
                                             dpop_jkt=key.jkt)
    other = DPoPKey("ES256")
    r = await exchange(client, rp["client_id"], code, verifier)  # dpop_jkt named: a proof is required
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                          "redirect_uri": "https://app.example.test/cb", "client_id": rp["client_id"]},
                          headers={"DPoP": other.proof("POST", TOKEN, iat=clock.now)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                          "redirect_uri": "https://app.example.test/cb", "client_id": rp["client_id"]},
                          headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    access, refresh = body["access_token"], body["refresh_token"]
    # userinfo: with a proof of the key, yes; as Bearer, no
    info = ISSUER + "/userinfo"
    ok = await client.get("/userinfo", headers=dpop_headers(key, access, clock, url=info))
    assert ok.status_code == 200, ok.text
    assert ok.json()["sub"] == user.id
    bearer = await client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert bearer.status_code == 401
    assert bearer.headers["www-authenticate"].startswith("DPoP ")
    assert bearer.json()["error"] == "invalid_token"
    bad = await client.get("/userinfo", headers=dpop_headers(key, access, clock, url=ISSUER + "/other"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_dpop_proof"
    # the public client's refresh token is bound to the key: none or another is refused, the token stays usable
    data = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": rp["client_id"]}
    r = await client.post("/token", data=data)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await client.post("/token", data=data, headers={"DPoP": other.proof("POST", TOKEN, iat=clock.now)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await client.post("/token", data=data, headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.jkt}


async def test_confidential_client_refresh_tokens_are_not_bound(client, make_credential, key, clock):
    cred = await make_credential(refresh="1d")
    body = await dpop_token(client, cred, key, clock)
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                          auth=cred.basic)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


async def test_dpop_jkt_must_be_a_thumbprint(client, ctx, make_user):
    rp = await make_client(ctx)
    user = await make_user()
    with pytest.raises(AssertionError):
        await authorize_code(client, rp["client_id"], user, dpop_jkt="short")


@pytest.mark.parametrize("settings_overrides", [{"dpop_nonce_required": True, "dpop_nonce_secret": "n" * 40}])
async def test_server_nonce_use_dpop_nonce_then_success(client, make_credential, key, clock):
    cred = await make_credential(refresh="none")
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "use_dpop_nonce"
    nonce = r.headers["dpop-nonce"]
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now, nonce=nonce)})
    assert r.status_code == 200, r.text
    assert r.headers["dpop-nonce"] == nonce  # the nonce to use next (the same within its time slot)
    token = r.json()["access_token"]
    # at a resource: 401 use_dpop_nonce with a nonce, then success
    r = await client.get("/api/account-memberships", headers=dpop_headers(key, token, clock))
    assert r.status_code == 401
    assert 'error="use_dpop_nonce"' in r.headers["www-authenticate"]
    assert r.headers["dpop-nonce"] == nonce
    r = await client.get("/api/account-memberships", headers=dpop_headers(key, token, clock, nonce=nonce))
    assert r.status_code == 200, r.text
    # a nonce from long ago is stale
    r = await client.get("/api/account-memberships", headers=dpop_headers(key, token, clock, nonce="stale"))
    assert r.status_code == 401


async def test_discovery_lists_the_dpop_algorithms(client):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA", "ES384"]


@pytest.mark.parametrize("settings_overrides", [{"dpop": False}])
async def test_dpop_off_is_not_advertised_and_proofs_are_ignored(client, make_credential, key, clock):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert "dpop_signing_alg_values_supported" not in meta
    cred = await make_credential(refresh="none")
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic,
                          headers={"DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"


async def test_a_browser_app_may_send_dpop_and_read_the_nonce(client, ctx, key, clock):
    rp = await make_client(ctx)  # allows its redirect URI's origin
    origin = "https://app.example.test"
    pre = await client.options("/token", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "dpop"})
    assert pre.status_code in (200, 204), pre.text
    assert "DPoP" in pre.headers["access-control-allow-headers"]
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "ktrt_x",
                                          "client_id": rp["client_id"]},
                          headers={"Origin": origin, "DPoP": key.proof("POST", TOKEN, iat=clock.now)})
    assert r.headers["access-control-allow-origin"] == origin
    assert "DPoP-Nonce" in r.headers["access-control-expose-headers"]


async def test_a_credential_registered_dpop_bound_needs_a_proof(client, make_credential, key, clock):
    from keyturn.core.errors import ApiError
    cred = await make_credential(refresh="none", dpopBoundAccessTokens=True)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert (await dpop_token(client, cred, key, clock))["token_type"] == "DPoP"
    with pytest.raises(ApiError):
        await make_credential(dpopBoundAccessTokens="yes")
