"""RFC 7591 dynamic client registration and RFC 7592 client management, through the front, on SQLite and
PostgreSQL: who may register (KEYTURN_REGISTRATION, initial access tokens), the RFC 7591 §3.2 answers, the
refusal of metadata Keyturn does not support, and a registered client's code flow and lifecycle."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from keyturn.services.oidc import registration
from keyturn.services.tokens import mint_access_token
from keyturn.storage.tables import audit_events
from tests.oidc.helpers import REDIRECT, authorize_code, exchange

INITIAL = {"registration": "initial_token"}
USER = {"registration": "user_token"}
BODY: dict[str, Any] = {"client_name": "Dyn app", "redirect_uris": [REDIRECT], "scope": "openid email",
                        "grant_types": ["authorization_code", "refresh_token"], "client_uri": "https://app.example.test",
                        "contacts": ["ops@example.test"]}


async def _initial(ctx: Any, **kw: Any) -> str:
    issued = await registration.issue_initial_token(ctx, expires_in=kw.get("expires_in"), uses=kw.get("uses"))
    assert issued.secret is not None
    return issued.secret


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _register(client: Any, ctx: Any, body: dict[str, Any] | None = None, **kw: Any) -> Any:
    return await client.post("/register", json=BODY if body is None else body,
                             headers=_bearer(await _initial(ctx, **kw)))


async def test_off_by_default_not_served_nor_advertised(client, ctx):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert "registration_endpoint" not in meta
    r = await client.post("/register", json=BODY, headers=_bearer(await _initial(ctx)))
    assert r.status_code == 404 and r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_register_answers_rfc7591_client_information(client, ctx):
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["registration_endpoint"] == "http://keyturn.test/register"
    r = await _register(client, ctx)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["client_secret"].startswith("ktcs_") and body["client_secret_expires_at"] == 0
    assert body["registration_access_token"].startswith("ktra_")
    assert body["registration_client_uri"].endswith(f"/register/{body['client_id']}")
    assert body["token_endpoint_auth_method"] == "client_secret_basic"  # RFC 7591 §2 default
    assert body["grant_types"] == ["authorization_code", "refresh_token"] and body["response_types"] == ["code"]
    assert body["client_name"] == "Dyn app" and body["scope"] == "openid email"
    assert body["client_uri"] == "https://app.example.test" and body["contacts"] == ["ops@example.test"]
    assert isinstance(body["client_id_issued_at"], int)


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_registered_client_runs_the_code_flow_with_its_method_only(client, ctx, make_user):
    reg = (await _register(client, ctx)).json()
    user = await make_user()
    code, verifier, _ = await authorize_code(client, reg["client_id"], user)  # a dynamic client sees consent
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                          "code_verifier": verifier}, auth=(reg["client_id"], reg["client_secret"]))
    assert r.status_code == 200, r.text
    assert "refresh_token" in r.json()
    # registered for client_secret_basic: the same secret in the body is refused (RFC 7591 §2)
    code, verifier, _ = await authorize_code(client, reg["client_id"], user)
    r = await exchange(client, reg["client_id"], code, verifier, client_secret=reg["client_secret"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_defaults_public_client_and_no_refresh(client, ctx, make_user):
    r = await _register(client, ctx, {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
    assert r.status_code == 201, r.text
    reg = r.json()
    assert "client_secret" not in reg and "client_secret_expires_at" not in reg
    assert reg["grant_types"] == ["authorization_code"]  # RFC 7591 §2: the default
    assert reg["client_name"] == "app.example.test"
    user = await make_user()
    code, verifier, _ = await authorize_code(client, reg["client_id"], user)
    r = await exchange(client, reg["client_id"], code, verifier)
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()


@pytest.mark.parametrize("settings_overrides", [INITIAL])
@pytest.mark.parametrize(("extra", "error", "named"), [
    ({"jwks_uri": "https://app.example.test/jwks"}, "invalid_client_metadata", "jwks_uri"),
    ({"jwks": {"keys": []}}, "invalid_client_metadata", "jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "private_key_jwt"),
    ({"dpop_bound_access_tokens": "yes"}, "invalid_client_metadata", "dpop_bound_access_tokens"),
    ({"tls_client_certificate_bound_access_tokens": "yes"}, "invalid_client_metadata", "tls_client_certificate"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "cn=lower"},
     "invalid_client_metadata", "tls_client_auth_subject_dn"),
    ({"software_statement": "eyJ.x.y"}, "invalid_client_metadata", "software_statement"),
    ({"first_party": True}, "invalid_client_metadata", "first_party"),  # Keyturn's own name: operator only
    ({"grant_types": ["client_credentials"]}, "invalid_client_metadata", "client_credentials"),
    ({"grant_types": ["refresh_token"]}, "invalid_client_metadata", "authorization_code"),
    ({"response_types": ["token"]}, "invalid_client_metadata", "token"),
    ({"scope": "openid keyturn:admin"}, "invalid_client_metadata", "keyturn:admin"),
    ({"logo_uri": "javascript:alert(1)"}, "invalid_client_metadata", "logo_uri"),
    ({"contacts": "ops@example.test"}, "invalid_client_metadata", "contacts"),
    ({"client_name": 7}, "invalid_client_metadata", "client_name"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri", "http"),
    ({"redirect_uris": []}, "invalid_redirect_uri", "redirect URI"),
    ({"redirect_uris": [1]}, "invalid_redirect_uri", "list of strings"),
])
async def test_unsupported_or_invalid_metadata_is_refused_naming_it(client, ctx, extra, error, named):
    r = await _register(client, ctx, {**BODY, **extra})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error and named in r.json()["error_description"]
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_refused_registration_spends_no_use(client, ctx):
    token = await _initial(ctx, uses=1)
    r = await client.post("/register", json={**BODY, "jwks_uri": "https://x.example/j"}, headers=_bearer(token))
    assert r.status_code == 400
    assert (await client.post("/register", json=BODY, headers=_bearer(token))).status_code == 201
    r = await client.post("/register", json=BODY, headers=_bearer(token))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_initial_tokens_expire_and_are_revoked(client, ctx, clock):
    expiring = await _initial(ctx, expires_in=60)
    issued = await registration.issue_initial_token(ctx, expires_in=None, uses=None)
    await registration.revoke_initial_token(ctx, issued.record.id)
    assert (await client.post("/register", json=BODY, headers=_bearer(issued.secret or ""))).status_code == 401
    clock.advance(61)
    assert (await client.post("/register", json=BODY, headers=_bearer(expiring))).status_code == 401
    listed = {t.id: t for t in await registration.list_initial_tokens(ctx)}
    assert listed[issued.record.id].revoked_at is not None
    with pytest.raises(Exception, match="not found"):
        await registration.revoke_initial_token(ctx, issued.record.id)
    with pytest.raises(Exception, match="at least 1"):
        await registration.issue_initial_token(ctx, expires_in=None, uses=0)
    with pytest.raises(Exception, match="positive"):
        await registration.issue_initial_token(ctx, expires_in=0, uses=None)


@pytest.mark.parametrize("settings_overrides", [INITIAL])
@pytest.mark.parametrize(("headers", "status", "error"), [
    ({}, 401, "invalid_token"),
    ({"Authorization": "Bearer ktia_not-a-real-token"}, 401, "invalid_token"),
    ({"Authorization": "Basic abc"}, 400, "invalid_request"),
])
async def test_registration_needs_a_valid_initial_token(client, headers, status, error):
    r = await client.post("/register", json=BODY, headers=headers)
    assert r.status_code == status, r.text
    assert r.json().get("error") == error
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_initial_token_mode_refuses_user_tokens(client, make_user):
    user = await make_user()
    r = await client.post("/register", json=BODY, headers=user.headers)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


@pytest.mark.parametrize("settings_overrides", [USER])
async def test_user_token_mode_registers_for_the_user(client, ctx, make_user, make_credential):
    user = await make_user()
    r = await client.post("/register", json=BODY, headers=user.headers)
    assert r.status_code == 201, r.text
    client_record = await ctx.client(r.json()["client_id"], ctx.clock())
    assert client_record is not None and client_record.owner_id == user.id
    assert (await _register(client, ctx)).status_code == 201  # an initial token works too
    cred = await make_credential()
    cred_token, _ = mint_access_token(ctx, sub=cred.client_id, client_id=cred.client_id, scope="",
                                      kind="credential", now=ctx.clock())
    r = await client.post("/register", json=BODY, headers=_bearer(cred_token))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = await client.post("/register", json=BODY, headers=_bearer("eyJ.not.atoken"))
    assert r.status_code == 401


@pytest.mark.parametrize("settings_overrides", [INITIAL])
@pytest.mark.parametrize(("content", "ctype", "message"), [
    (b"{", "application/json", "not valid JSON"),
    (b"[]", "application/json", "JSON object"),
    (b'{"scope": "a", "scope": "b"}', "application/json", "repeated"),
    (b"client_name=x", "application/x-www-form-urlencoded", "application/json"),
    (b'{"client_name": "' + b"x" * 70000 + b'"}', "application/json", "too large"),
])
async def test_malformed_bodies_are_invalid_request(client, ctx, content, ctype, message):
    r = await client.post("/register", content=content,
                          headers={**_bearer(await _initial(ctx)), "Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request" and message in r.json()["error_description"]


@pytest.mark.parametrize("settings_overrides", [{**INITIAL, "registration_limit": 1}])
async def test_registrations_are_rate_limited_per_address(client, ctx):
    token = await _initial(ctx)
    assert (await client.post("/register", json=BODY, headers=_bearer(token))).status_code == 201
    r = await client.post("/register", json=BODY, headers=_bearer(token))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_rfc7592_read_update_delete(client, ctx, make_user):
    reg = (await _register(client, ctx)).json()
    uri, token, cid = reg["registration_client_uri"], reg["registration_access_token"], reg["client_id"]
    path = uri[uri.index("/register/"):]

    r = await client.get(path, headers=_bearer(token))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    read = r.json()
    assert "client_secret" not in read and read["client_uri"] == "https://app.example.test"
    assert read["registration_access_token"] != token  # rotated: the old one is spent
    assert (await client.get(path, headers=_bearer(token))).status_code == 401
    token = read["registration_access_token"]

    new_redirect = "https://app.example.test/cb2"
    update = {"client_id": cid, "client_secret": reg["client_secret"], "redirect_uris": [new_redirect],
              "client_name": "Dyn app 2", "token_endpoint_auth_method": "client_secret_post"}
    r = await client.put(path, json=update, headers=_bearer(token))
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["redirect_uris"] == [new_redirect] and updated["client_name"] == "Dyn app 2"
    assert updated["token_endpoint_auth_method"] == "client_secret_post"
    assert "client_uri" not in updated and updated["grant_types"] == ["authorization_code"]  # replaced, not merged
    token = updated["registration_access_token"]
    # the secret still works, now in the body only
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": "ktac_x",
                                          "client_id": cid, "client_secret": reg["client_secret"]})
    assert r.json()["error"] == "invalid_grant"

    for bad, named in (({**update, "client_id": "other"}, "client_id"),
                       ({**update, "client_secret": "ktcs_wrong"}, "client_secret"),
                       ({**update, "registration_access_token": token}, "registration_access_token"),
                       ({**update, "token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
                       ({**update, "jwks_uri": "https://x.example/j"}, "jwks_uri"),
                       ({**update, "redirect_uris": ["ftp://x"]}, "redirect")):
        r = await client.put(path, json=bad, headers=_bearer(token))
        assert r.status_code == 400, r.text
        assert r.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")
        assert named in r.json()["error_description"]

    r = await client.delete(path, headers=_bearer(token))
    assert r.status_code == 204 and r.headers["cache-control"] == "no-store"
    assert (await client.get(path, headers=_bearer(token))).status_code == 401
    r = await client.post("/token", data={"grant_type": "authorization_code", "code": "ktac_x", "client_id": cid,
                                          "client_secret": reg["client_secret"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_rfc7592_refuses_other_tokens_alike(client, ctx):
    a, b = (await _register(client, ctx)).json(), (await _register(client, ctx)).json()
    for path, token in ((f"/register/{a['client_id']}", b["registration_access_token"]),
                        ("/register/no-such-client", a["registration_access_token"]),
                        (f"/register/{a['client_id']}", "ktra_guess"),
                        (f"/register/{a['client_id']}", await _initial(ctx)),
                        ("/register/" + "x" * 80, a["registration_access_token"])):
        r = await client.get(path, headers=_bearer(token))
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", (path, r.text)
    assert (await client.get(f"/register/{a['client_id']}")).status_code == 401


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_registrations_are_audited(client, ctx):
    reg = (await _register(client, ctx)).json()
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(audit_events.c.event, audit_events.c.client_id,
                                          audit_events.c.actor))).all()
    registered = [r for r in rows if r[0] == "oidc_client.registered"]
    assert [r[1] for r in registered] == [reg["client_id"]] and registered[0][2].startswith("initial-token:")
    assert any(r[0] == "registration.initial_token_issued" for r in rows)


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_the_demo_prints_an_initial_token_and_the_request(client, ctx):
    from keyturn.services.demo import create_demo_data
    data = await create_demo_data(ctx, "http://keyturn.test")
    token = data["registration"]["initial_access_token"]
    assert token.startswith("ktia_") and token in data["try"]["register"]
    body = data["try"]["register"].split("-d '", 1)[1].rstrip("'")
    r = await client.post("/register", content=body, headers={**_bearer(token), "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_authentication_comes_before_metadata_checks(client, ctx, monkeypatch):
    r = await client.post("/register", json={"jwks_uri": "x"}, headers=_bearer("ktia_unknown"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # a token spent between the check and the insert (a concurrent registration) is refused there too
    from keyturn.storage import registration as repo

    async def live(*_: Any) -> bool:
        return True
    monkeypatch.setattr(repo, "live_initial_token", live)
    r = await client.post("/register", json=BODY, headers=_bearer("ktia_unknown"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_a_client_registered_dpop_bound_is_one(client, ctx, make_user):
    """RFC 9449 §5.2's metadata: registered, echoed, and a token request without a proof is refused."""
    r = await _register(client, ctx, {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                                      "dpop_bound_access_tokens": True})
    assert r.status_code == 201, r.text
    reg = r.json()
    assert reg["dpop_bound_access_tokens"] is True
    assert (await _register(client, ctx, {"redirect_uris": [REDIRECT]})).json()["dpop_bound_access_tokens"] is False
    code, verifier, _ = await authorize_code(client, reg["client_id"], await make_user())
    r = await exchange(client, reg["client_id"], code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text


@pytest.mark.parametrize("settings_overrides", [INITIAL])
async def test_register_a_tls_client_auth_client(client, ctx):
    """RFC 8705 §2.1.2: the subject DN is kept normalised and echoed; the client gets no secret."""
    r = await _register(client, ctx, {**BODY, "token_endpoint_auth_method": "tls_client_auth",
                                      "tls_client_auth_subject_dn": "CN=dyn\\2dapp,O=Bank",
                                      "tls_client_certificate_bound_access_tokens": True})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_endpoint_auth_method"] == "tls_client_auth" and "client_secret" not in body
    assert body["tls_client_auth_subject_dn"] == "CN=dyn-app,O=Bank"
    assert body["tls_client_certificate_bound_access_tokens"] is True
    r = await client.get(f"/register/{body['client_id']}", headers=_bearer(body["registration_access_token"]))
    assert r.status_code == 200, r.text
    assert r.json()["tls_client_auth_subject_dn"] == "CN=dyn-app,O=Bank"
    update = {**BODY, "client_id": body["client_id"], "token_endpoint_auth_method": "client_secret_basic"}
    token = r.json().get("registration_access_token", body["registration_access_token"])
    r = await client.put(f"/register/{body['client_id']}", json=update, headers=_bearer(token))
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text
    assert "tls_client_auth" in r.json()["error_description"]
