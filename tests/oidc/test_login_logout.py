"""Hosted login (2.I), logout (2.H), discovery, userinfo and CORS (2.J)."""

from __future__ import annotations

from tests.oidc.helpers import (
    LOGOUT_TARGET,
    ORIGIN,
    authorize_code,
    authorize_params,
    exchange,
    form_of,
    make_client,
    pkce_pair,
    query_of,
)


async def _login_page(client, client_id):
    _, challenge = pkce_pair()
    r = await client.get("/authorize", params=authorize_params(client_id, challenge, u="+6421234567890"))
    page = await client.get(r.headers["location"])
    return page


async def test_login_page_headers_prefill_and_cookies(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    page = await _login_page(client, rp["client_id"])
    assert page.status_code == 200 and 'value="+6421234567890"' in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<main>")[1].split("</main>")[0]  # no third-party resources
    action, fields = form_of(page.text)
    r = await client.post(action, data={**fields, "username": user.email, "password": user.password})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


async def test_same_message_for_unknown_user_and_wrong_password(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    page = await _login_page(client, rp["client_id"])
    action, fields = form_of(page.text)
    a = await client.post(action, data={**fields, "username": user.email, "password": "wrong password!"})
    b = await client.post(action, data={**fields, "username": "nobody@example.test", "password": "wrong password!"})
    assert a.status_code == b.status_code == 401
    assert "do not match" in a.text and "do not match" in b.text


async def test_repeated_failures_lock_the_account_with_a_clear_message(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)
    page = await _login_page(client, rp["client_id"])
    action, fields = form_of(page.text)
    statuses = []
    for _ in range(ctx.settings.login_max_failures + 1):
        r = await client.post(action, data={**fields, "username": user.email, "password": "wrong password!"})
        statuses.append(r.status_code)
    assert statuses[-1] == 429 and "Too many failed sign-in attempts" in r.text and r.headers["retry-after"]
    r = await client.post(action, data={**fields, "username": user.email, "password": user.password})
    assert r.status_code == 429  # even the right password waits
    clock.advance(31)
    r = await client.post(action, data={**fields, "username": user.email, "password": user.password})
    assert r.status_code == 303


async def test_login_csrf_and_browser_binding(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    page = await _login_page(client, rp["client_id"])
    action, fields = form_of(page.text)
    r = await client.post(action, data={**fields, "csrf": "forged", "username": user.email,
                                        "password": user.password})
    assert r.status_code == 403
    client.cookies.clear()
    r = await client.post(action, data={**fields, "username": user.email, "password": user.password})
    assert r.status_code == 400 and "expired" in r.text


async def test_interaction_is_single_use(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    page = await _login_page(client, rp["client_id"])
    action, fields = form_of(page.text)
    ok = await client.post(action, data={**fields, "username": user.email, "password": user.password})
    assert ok.status_code == 303
    again = await client.post(action, data={**fields, "username": user.email, "password": user.password})
    assert again.status_code == 400


async def _signed_in(client, ctx, user, **kw):
    rp = await make_client(ctx, **kw)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    return rp, (await exchange(client, rp["client_id"], code, verifier)).json()


async def test_logout_with_hint_redirects_ends_session_and_revokes(client, ctx, make_user):
    user = await make_user()
    rp, tokens = await _signed_in(client, ctx, user)
    r = await client.get("/logout", params={"id_token_hint": tokens["id_token"], "state": "s1",
                                            "post_logout_redirect_uri": LOGOUT_TARGET})
    assert r.status_code == 303 and r.headers["location"] == LOGOUT_TARGET + "?state=s1"
    _, challenge = pkce_pair()
    r = await client.get("/authorize", params=authorize_params(rp["client_id"], challenge, prompt="none"))
    assert query_of(r.headers["location"])["error"] == "login_required"
    r = await client.post("/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                          "refresh_token": tokens["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"


async def test_logout_keeps_refresh_tokens_when_the_client_asked_to(client, ctx, make_user):
    user = await make_user()
    rp, tokens = await _signed_in(client, ctx, user, revoke_refresh_on_logout=False)
    await client.get("/logout", params={"id_token_hint": tokens["id_token"]})
    r = await client.post("/token", data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                          "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200


async def test_logout_unregistered_target_or_bad_hint_never_redirects(client, ctx, make_user):
    user = await make_user()
    rp, tokens = await _signed_in(client, ctx, user)
    for params in ({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGOUT_TARGET + "?x=1"},
                   {"id_token_hint": tokens["id_token"][:-4] + "AAAA", "post_logout_redirect_uri": LOGOUT_TARGET},
                   {"id_token_hint": tokens["access_token"], "post_logout_redirect_uri": LOGOUT_TARGET},
                   {"client_id": rp["client_id"], "post_logout_redirect_uri": "https://evil.example/"}):
        r = await client.get("/logout", params=params)
        assert r.status_code == 400 and "location" not in r.headers


async def test_logout_without_hint_asks_for_confirmation_with_xsrf(client, ctx, make_user):
    user = await make_user()
    rp, tokens = await _signed_in(client, ctx, user)
    page = await client.get("/logout", params={"client_id": rp["client_id"],
                                               "post_logout_redirect_uri": LOGOUT_TARGET})
    assert page.status_code == 200 and "Sign out?" in page.text
    action, fields = form_of(page.text)
    forged = await client.post(action, data={**fields, "xsrf": "forged", "logout": "yes"})
    assert forged.status_code == 403
    r = await client.post(action, data={**fields, "logout": "yes"})
    assert r.status_code == 303 and r.headers["location"] == LOGOUT_TARGET


async def test_discovery_is_complete(client):
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == "http://keyturn.test"
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint",
                "revocation_endpoint"):
        assert meta[key].startswith("http://keyturn.test/")
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert "authorization_code" in meta["grant_types_supported"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "email", "phone", "profile", "offline_access"} <= set(meta["scopes_supported"])


async def test_userinfo_and_cors_for_registered_origins(client, ctx, make_user):
    user = await make_user()
    rp, tokens = await _signed_in(client, ctx, user)
    r = await client.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"], "Origin": ORIGIN})
    assert r.status_code == 200 and r.json()["sub"] == user.id
    assert r.headers["access-control-allow-origin"] == ORIGIN
    r = await client.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert r.status_code == 200
    r = await client.get("/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"],
                                               "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    assert (await client.get("/userinfo")).status_code == 401
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        r = await client.get(path, headers={"Origin": ORIGIN})
        assert r.headers["access-control-allow-origin"] == ORIGIN


async def test_management_api_and_cli_shape(client, ctx, make_user):
    from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
    user = await make_user()
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin", kind="user",
                                 now=ctx.clock())
    body = {"name": "Mobile", "type": "public", "redirect_uris": ["com.example.yourapp://oidc-callback"]}
    r = await client.post("/api/oidc-clients", json=body, headers={"Authorization": admin})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["client_id"] and "client_secret" not in r.json()["data"]
    r = await client.post("/api/oidc-clients", json=body, headers=user.headers)
    assert r.status_code == 403
    bad = {**body, "redirect_uris": ["http://evil.example/cb"]}
    r = await client.post("/api/oidc-clients", json=bad, headers={"Authorization": admin})
    assert r.status_code == 400
