"""The authorization endpoint's rules (REQUIREMENTS 2.A, 2.B): page errors, redirected errors, PKCE, prompt."""

from __future__ import annotations

import pytest

from tests.oidc.helpers import REDIRECT, authorize_code, authorize_params, login, make_client, pkce_pair, query_of


async def _start(client, client_id, **extra):
    _, challenge = pkce_pair()
    return await client.get("/authorize", params=authorize_params(client_id, challenge, **extra))


@pytest.mark.parametrize("redirect_uri", [
    REDIRECT + "/", "https://APP.example.test/cb", "HTTPS://app.example.test/cb", "https://app.example.test:443/cb",
    REDIRECT + "?x=1", "https://app.example.test/cb/..", "https://app.example.test.evil.example/cb",
    "https://evil.example/cb", "javascript:alert(1)"])
async def test_unregistered_redirect_uri_gets_a_page_never_a_redirect(client, ctx, redirect_uri):
    rp = await make_client(ctx)
    r = await _start(client, rp["client_id"], redirect_uri=redirect_uri, response_type="token",
                     state='"><script>alert(1)</script>')
    assert r.status_code == 400 and "location" not in r.headers
    assert "<script>alert(1)" not in r.text and "javascript:alert" not in r.text
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_unknown_client_and_missing_redirect_with_two_registered_get_pages(client, ctx):
    r = await _start(client, "nope")
    assert r.status_code == 400 and "location" not in r.headers
    rp = await make_client(ctx, redirect_uris=[REDIRECT, "https://app.example.test/cb2"])
    r = await _start(client, rp["client_id"], redirect_uri=None)
    assert r.status_code == 400 and "location" not in r.headers


async def test_loopback_any_port_but_exact_path(client, ctx):
    rp = await make_client(ctx, redirect_uris=["http://127.0.0.1/cb"])
    ok = await _start(client, rp["client_id"], redirect_uri="http://127.0.0.1:51234/cb")
    assert ok.status_code == 303
    for bad in ("http://127.0.0.1:51234/cb?x=1", "http://localhost:51234/cb", "http://127.0.0.1.evil.example/cb"):
        r = await _start(client, rp["client_id"], redirect_uri=bad)
        assert r.status_code == 400 and "location" not in r.headers


@pytest.mark.parametrize("extra, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"response_mode": "form_post.jwt"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "S512"}, "invalid_request"),
    ({"code_challenge": "a" * 42}, "invalid_request"),
    ({"code_challenge": "a" * 42 + "+"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"prompt": "none"}, "login_required"),
])
async def test_errors_after_the_redirect_uri_is_trusted_are_redirected(client, ctx, extra, error):
    rp = await make_client(ctx)
    r = await _start(client, rp["client_id"], **extra)
    assert r.status_code == 303, r.text
    q = query_of(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT + "?")
    assert q["error"] == error and q["state"] == "st-1" and q["iss"] == "http://keyturn.test"
    assert "code" not in q


async def test_repeated_parameter_is_invalid_request(client, ctx):
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    query = "&".join(f"{k}={v}" for k, v in authorize_params(rp["client_id"], challenge).items())
    r = await client.get(f"/authorize?{query}&scope=openid")
    assert query_of(r.headers["location"])["error"] == "invalid_request"
    r = await client.get(f"/authorize?{query}&client_id=x")
    assert r.status_code == 400 and "location" not in r.headers


async def test_no_cors_at_the_authorization_endpoint(client, ctx):
    rp = await make_client(ctx, origins=["https://app.example.test"])
    r = await _start(client, rp["client_id"])
    r = await client.get("/authorize", headers={"Origin": "https://app.example.test"})
    assert "access-control-allow-origin" not in r.headers


async def test_unknown_parameter_is_ignored_and_long_state_round_trips(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    state = "é&=?/#%" * 100
    code, _, q = await authorize_code(client, rp["client_id"], user, state=state, extra="foobar")
    assert q["state"] == state and code.startswith("ktac_")


async def test_session_makes_the_second_authorization_silent_and_prompt_none_works(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    await authorize_code(client, rp["client_id"], user)
    r = await _start(client, rp["client_id"], prompt="none")
    assert r.status_code == 303 and "code" in query_of(r.headers["location"])
    r = await _start(client, rp["client_id"], prompt="login")
    assert r.headers["location"].startswith("/interaction/")


async def test_max_age_forces_a_new_login(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)
    await authorize_code(client, rp["client_id"], user)
    clock.advance(5)
    r = await _start(client, rp["client_id"], max_age="1")
    assert r.headers["location"].startswith("/interaction/")
    r = await _start(client, rp["client_id"], max_age="1", prompt="none")
    assert query_of(r.headers["location"])["error"] == "login_required"


async def test_idle_session_expires(client, ctx, make_user, clock):
    user = await make_user()
    rp = await make_client(ctx)
    await authorize_code(client, rp["client_id"], user)
    clock.advance(ctx.settings.session_idle_ttl + ctx.settings.clock_leeway)
    r = await _start(client, rp["client_id"], prompt="none")
    assert query_of(r.headers["location"])["error"] == "login_required"


async def test_consent_required_remembered_and_refusable(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, first_party=False)
    r = await _start(client, rp["client_id"])
    r = await login(client, r.headers["location"], user.email, user.password)
    assert r.headers["location"].startswith("/interaction/")
    page = await client.get(r.headers["location"])
    assert "Allow access" in page.text
    from tests.oidc.helpers import consent
    r2 = await _start(client, rp["client_id"], prompt="none")
    assert query_of(r2.headers["location"])["error"] == "consent_required"
    r3 = await _start(client, rp["client_id"])
    denied = await consent(client, r3.headers["location"], "deny")
    assert denied.status_code == 303
    assert query_of(denied.headers["location"])["error"] == "access_denied"
    r4 = await _start(client, rp["client_id"])
    allowed = await consent(client, r4.headers["location"], "allow")
    assert "code" in query_of(allowed.headers["location"])
    r5 = await _start(client, rp["client_id"], prompt="none")
    assert "code" in query_of(r5.headers["location"])  # remembered


async def test_private_use_scheme_redirect(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, redirect_uris=["com.example.yourapp://oidc-callback"])
    verifier, challenge = pkce_pair()
    r = await client.get("/authorize", params=authorize_params(rp["client_id"], challenge,
                                                                redirect_uri="com.example.yourapp://oidc-callback"))
    r = await login(client, r.headers["location"], user.email, user.password)
    assert r.headers["location"].startswith("com.example.yourapp://oidc-callback?code=")
