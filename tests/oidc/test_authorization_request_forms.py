"""How the authorization request may arrive and what it may carry.

POST with a form body (OIDC Core §3.1.2.1), ``request``/``request_uri`` refused with their own
errors (OIDC Core §3.1.2.6), a repeated ``state`` never echoed (RFC 6749 §3.1, §4.1.2.1).
"""

from __future__ import annotations

import pytest

from tests.oidc.helpers import (
    REDIRECT,
    authorize_params,
    consent,
    exchange,
    login,
    make_client,
    pkce_pair,
    query_of,
)


def _refused(r) -> None:
    assert r.status_code == 400, r.text
    assert "location" not in r.headers and r.headers["content-type"].startswith("text/html")


def _redirected_error(r, error: str) -> dict[str, str]:
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(REDIRECT + "?")
    q = query_of(r.headers["location"])
    assert q["error"] == error and q["iss"] == "http://keyturn.test" and "code" not in q
    return q


@pytest.mark.parametrize("path", ["/authorize", "/api/v2/access/authorize"])
async def test_authorize_accepts_post_with_a_form_body_through_to_tokens(client, ctx, make_user, path):
    user = await make_user()
    rp = await make_client(ctx, first_party=False)
    verifier, challenge = pkce_pair()
    r = await client.post(path, data=authorize_params(rp["client_id"], challenge))
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")
    r = await login(client, r.headers["location"], user.email, user.password)
    r = await consent(client, r.headers["location"])
    q = query_of(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT + "?") and q["state"] == "st-1"
    tokens = await exchange(client, rp["client_id"], q["code"], verifier)
    assert tokens.status_code == 200 and "id_token" in tokens.json()
    # With the session now set, a POST with prompt=none answers silently, like GET.
    _, challenge = pkce_pair()
    r = await client.post(path, data=authorize_params(rp["client_id"], challenge, prompt="none"))
    assert r.status_code == 303 and "code" in query_of(r.headers["location"])


async def test_post_authorize_takes_parameters_from_the_body_only(client, ctx):
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    params = authorize_params(rp["client_id"], challenge)
    # All in the query, nothing in the body: no client is named.
    _refused(await client.post("/authorize", params=params, data={}))
    # The body decides even when the query says otherwise.
    r = await client.post("/authorize", params={"redirect_uri": "https://evil.example/cb", "state": "q"}, data=params)
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")


async def test_post_authorize_refuses_what_is_not_a_usable_form(client, ctx):
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    params = authorize_params(rp["client_id"], challenge)
    _refused(await client.post("/authorize", json=params))
    _refused(await client.post("/authorize", content=b"client_id=\xff\xfe",
                               headers={"content-type": "application/x-www-form-urlencoded"}))
    _refused(await client.post("/authorize", content=b"client_id=%ff",
                               headers={"content-type": "application/x-www-form-urlencoded"}))
    _refused(await client.post("/authorize", data={**params, "nonce": "n" * 17000}))
    _refused(await client.post("/authorize", content="&".join(f"p{i}=1" for i in range(101)).encode(),
                               headers={"content-type": "application/x-www-form-urlencoded"}))


async def test_post_authorize_repeats_follow_the_get_rules(client, ctx):
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    body = "&".join(f"{k}={v}" for k, v in authorize_params(rp["client_id"], challenge).items())
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = await client.post("/authorize", content=f"{body}&scope=openid", headers=form)
    assert _redirected_error(r, "invalid_request")["state"] == "st-1"
    _refused(await client.post("/authorize", content=f"{body}&client_id=x", headers=form))
    _refused(await client.post("/authorize", content=f"{body}&redirect_uri={REDIRECT}", headers=form))


async def test_post_authorize_errors_after_trust_are_redirected_and_no_cors(client, ctx):
    rp = await make_client(ctx, origins=["https://app.example.test"])
    _, challenge = pkce_pair()
    r = await client.post("/authorize", data=authorize_params(rp["client_id"], challenge, response_type="token"),
                          headers={"Origin": "https://app.example.test"})
    _redirected_error(r, "unsupported_response_type")
    assert "access-control-allow-origin" not in r.headers  # R12


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("name, error", [("request", "request_not_supported"),
                                         ("request_uri", "request_uri_not_supported")])
async def test_request_and_request_uri_get_their_own_not_supported_errors(client, ctx, method, name, error):
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    value = "eyJhbGciOiJub25lIn0.e30." if name == "request" else "https://rp.example.test/req.jwt"
    params = authorize_params(rp["client_id"], challenge, **{name: value})
    r = await (client.post("/authorize", data=params) if method == "POST"
               else client.get("/authorize", params=params))
    assert _redirected_error(r, error)["state"] == "st-1"
    # R03: with an unregistered redirect_uri it is the page, never a redirect.
    params["redirect_uri"] = "https://evil.example/cb"
    r = await (client.post("/authorize", data=params) if method == "POST"
               else client.get("/authorize", params=params))
    _refused(r)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_repeated_state_gets_invalid_request_without_any_state(client, ctx, method):
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    params = authorize_params(rp["client_id"], challenge, state=None)
    pairs = [*params.items(), ("state", "first"), ("state", "second")]
    if method == "POST":
        r = await client.post("/authorize", content="&".join(f"{k}={v}" for k, v in pairs),
                              headers={"content-type": "application/x-www-form-urlencoded"})
    else:
        r = await client.get("/authorize", params=pairs)
    q = _redirected_error(r, "invalid_request")
    assert "state" not in q
    assert "first" not in r.headers["location"] and "second" not in r.headers["location"]
