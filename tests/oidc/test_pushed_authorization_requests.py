"""Pushed authorization requests (RFC 9126; FAPI 2.0 Security Profile §5.3.2.2), through the served front on
SQLite and PostgreSQL: POST /par, then /authorize with client_id + request_uri alone, ≤ 60 s, used up when
its code is issued (a reload before that works: the conformance suite's
par-ensure-reused-request-uri-prior-to-auth-completion-succeeds; a reuse after it is a page:
par-attempt-reuse-request_uri)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.core.secrets import REQUEST_URI_PREFIX, digest
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.storage import tables as t
from tests.conftest import Clock
from tests.oidc.helpers import REDIRECT, consent, exchange, login, make_client, pkce_pair, query_of
from tests.web.test_front_layers import shed_client  # noqa: F401 - the fixture

ISSUER = "http://keyturn.test"


def _par_body(client_id: str, challenge: str | None, **extra: str | None) -> dict[str, str]:
    body: dict[str, str | None] = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid email",
        "state": "par-state", "nonce": "par-nonce", "code_challenge": challenge, "code_challenge_method": "S256"}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


async def _push(client: httpx.AsyncClient, rp: dict[str, Any], challenge: str | None = None, *,
                auth: tuple[str, str] | None = None, **extra: str | None) -> httpx.Response:
    if challenge is None:
        challenge = pkce_pair()[1]
    data = _par_body(rp["client_id"], challenge, **extra)
    if auth is None:
        return await client.post("/par", data=data)
    return await client.post("/par", data=data, auth=auth)


async def _pushed(client: httpx.AsyncClient, rp: dict[str, Any], **kw: Any) -> tuple[str, str]:
    """(request_uri, verifier) of an accepted pushed request."""
    verifier, challenge = pkce_pair()
    r = await _push(client, rp, challenge, **kw)
    assert r.status_code == 201, r.text
    return r.json()["request_uri"], verifier


async def _finish(client: httpx.AsyncClient, location: str, user: Any) -> dict[str, str]:
    """Log in (and consent) from an interaction page to the client's callback; its query."""
    if location.startswith("/interaction/"):
        r = await login(client, location, user.email, user.password)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
    if location.startswith("/interaction/"):
        r = await consent(client, location)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return query_of(location)


def _is_page(r: httpx.Response, text: str) -> None:
    assert r.status_code == 400 and "location" not in r.headers, r.headers
    assert "text/html" in r.headers["content-type"] and text in r.text, r.text


async def test_pushed_request_then_client_id_and_request_uri_alone_sign_in(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, first_party=False)
    verifier, challenge = pkce_pair()
    r = await _push(client, rp, challenge)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"request_uri", "expires_in"} and body["expires_in"] == 60
    assert body["request_uri"].startswith(REQUEST_URI_PREFIX)
    assert len(body["request_uri"]) - len(REQUEST_URI_PREFIX) >= 22  # ≥ 128 bits, base64url
    async with ctx.engine.connect() as conn:  # stored as a digest, never the value; no client secret kept
        row = (await conn.execute(select(t.pushed_requests))).mappings().one()
    assert row["digest"] == digest(body["request_uri"]) and row["expires_at"] == ctx.clock() + 60
    assert row["params"]["state"] == "par-state" and row["used_at"] is None
    r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": body["request_uri"]})
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/"), r.text
    q = await _finish(client, r.headers["location"], user)
    assert q["state"] == "par-state" and q["iss"] == ISSUER
    tokens = await exchange(client, rp["client_id"], q["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    assert set(tokens.json()["scope"].split()) == {"openid", "email"}


async def test_the_seed_spelling_of_the_authorization_endpoint_takes_a_request_uri(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    request_uri, verifier = await _pushed(client, rp)
    r = await client.post("/api/v2/access/authorize", data={"client_id": rp["client_id"], "request_uri": request_uri})
    assert r.status_code == 303, r.text
    q = await _finish(client, r.headers["location"], user)
    assert (await exchange(client, rp["client_id"], q["code"], verifier)).status_code == 200


async def test_parameters_beside_the_request_uri_are_ignored(client, ctx, make_user):
    """FAPI 2.0 §5.3.2.2: only the pushed request's parameters are used (OIDC clients may repeat some)."""
    user = await make_user()
    rp = await make_client(ctx, redirect_uris=[REDIRECT, "https://app.example.test/other"])
    request_uri, verifier = await _pushed(client, rp)
    r = await client.get("/authorize", params={
        "client_id": rp["client_id"], "request_uri": request_uri, "scope": "openid phone profile",
        "state": "evil", "redirect_uri": "https://app.example.test/other", "code_challenge": "x" * 43,
        "code_challenge_method": "plain", "response_type": "token", "request": "x.y.z"})
    assert r.status_code == 303, r.text
    q = await _finish(client, r.headers["location"], user)
    assert q["state"] == "par-state"
    tokens = await exchange(client, rp["client_id"], q["code"], verifier)
    assert tokens.status_code == 200 and set(tokens.json()["scope"].split()) == {"openid", "email"}


async def test_a_reload_before_the_sign_in_completes_works_and_a_reuse_after_it_gets_a_page(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    request_uri, verifier = await _pushed(client, rp)
    params = {"client_id": rp["client_id"], "request_uri": request_uri}
    first = await client.get("/authorize", params=params)
    assert first.status_code == 303 and first.headers["location"].startswith("/interaction/")
    reload = await client.get("/authorize", params=params)  # the person reloads the sign-in page
    assert reload.status_code == 303 and reload.headers["location"].startswith("/interaction/")
    q = await _finish(client, reload.headers["location"], user)
    assert (await exchange(client, rp["client_id"], q["code"], verifier)).status_code == 200
    _is_page(await client.get("/authorize", params=params), "already used")  # the back button, after it
    # The first page, still open, completes too late: the request_uri is spent, so no second code.
    r = await login(client, first.headers["location"], user.email, user.password)
    assert r.status_code == 303 and r.headers["location"].startswith(REDIRECT + "?"), r.text
    late = query_of(r.headers["location"])
    assert late["error"] == "invalid_request" and "code" not in late and late["state"] == "par-state"


async def test_a_signed_in_person_gets_one_code_per_request_uri(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    request_uri, _ = await _pushed(client, rp)
    params = {"client_id": rp["client_id"], "request_uri": request_uri}
    await _finish(client, (await client.get("/authorize", params=params)).headers["location"], user)
    again_uri, _ = await _pushed(client, rp)
    r = await client.get("/authorize", params={**params, "request_uri": again_uri})  # signed in: code at once
    assert r.status_code == 303 and "code" in query_of(r.headers["location"])
    _is_page(await client.get("/authorize", params={**params, "request_uri": again_uri}), "already used")


async def test_a_refused_consent_leaves_the_request_uri_unspent_until_it_expires(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, first_party=False)
    request_uri, _ = await _pushed(client, rp)
    params = {"client_id": rp["client_id"], "request_uri": request_uri}
    r = await login(client, (await client.get("/authorize", params=params)).headers["location"], user.email,
                    user.password)
    r = await consent(client, r.headers["location"], decision="deny")
    assert query_of(r.headers["location"])["error"] == "access_denied"
    r = await client.get("/authorize", params=params)
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")


async def test_two_consent_pages_of_one_request_uri_give_one_code(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, first_party=False)
    request_uri, _ = await _pushed(client, rp)
    params = {"client_id": rp["client_id"], "request_uri": request_uri}
    r = await client.get("/authorize", params=params)
    r = await login(client, r.headers["location"], user.email, user.password)
    pages = [r.headers["location"]]
    r = await client.get("/authorize", params=params)  # a second tab, signed in: its own consent page
    pages.append(r.headers["location"])
    first = query_of((await consent(client, pages[0])).headers["location"])
    second = query_of((await consent(client, pages[1])).headers["location"])
    assert "code" in first and second["error"] == "invalid_request" and "code" not in second


async def test_a_request_uri_expires_after_its_lifetime_and_the_leeway(client, ctx, clock: Clock, make_user):
    """Its expiry is the pushing node's clock: like a code's, it holds KEYTURN_CLOCK_LEEWAY past it, no longer.
    It bounds when the request may be loaded, not how long the person then takes to sign in."""
    user = await make_user()
    rp = await make_client(ctx)
    late = ctx.settings.par_lifetime + ctx.settings.clock_leeway
    live, dead = await _pushed(client, rp), await _pushed(client, rp)
    clock.advance(late - 1)
    r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": live[0]})
    assert r.status_code == 303, r.text
    clock.advance(1)
    slow = await login(client, r.headers["location"], user.email, user.password)
    assert "code" in query_of(slow.headers["location"])
    _is_page(await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": dead[0]}),
             "expired")


async def test_another_clients_request_uri_is_unknown_and_stays_usable_by_its_own(client, ctx):
    rp, other = await make_client(ctx), await make_client(ctx)
    request_uri, _ = await _pushed(client, rp)
    _is_page(await client.get("/authorize", params={"client_id": other["client_id"], "request_uri": request_uri}),
             "unknown")
    for bogus in (REQUEST_URI_PREFIX + "nope", REQUEST_URI_PREFIX + "x" * 3000):
        _is_page(await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": bogus}),
                 "unknown")
    r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": request_uri})
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")


async def test_a_request_uri_needs_a_known_client_and_no_repeats(client, ctx):
    rp = await make_client(ctx)
    request_uri, _ = await _pushed(client, rp)
    _is_page(await client.get("/authorize", params={"request_uri": request_uri}), "unknown")
    _is_page(await client.get("/authorize", params={"client_id": "nope", "request_uri": request_uri}), "unknown")
    repeated = f"client_id={rp['client_id']}&request_uri={REQUEST_URI_PREFIX}a&request_uri=b"
    _is_page(await client.get("/authorize?" + repeated), "repeats")
    ok = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": request_uri})
    assert ok.status_code == 303  # none of the refusals spent it


@pytest.mark.parametrize("extra, error", [
    ({"code_challenge": None}, "invalid_request"),  # PKCE is required
    ({"code_challenge_method": "plain"}, "invalid_request"),  # S256 only
    ({"code_challenge_method": None}, "invalid_request"),  # no method means plain (RFC 7636 §4.3)
    ({"request_uri": REQUEST_URI_PREFIX + "abc"}, "invalid_request"),  # RFC 9126 §2.1
    ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"request": "x.y.z"}, "request_not_supported"),
    ({"prompt": "none login"}, "invalid_request"),
])
async def test_a_pushed_request_is_validated_as_the_authorization_endpoint_would(client, ctx, extra, error):
    rp = await make_client(ctx)
    r = await _push(client, rp, **extra)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error and r.headers["cache-control"] == "no-store"
    async with ctx.engine.connect() as conn:
        assert (await conn.execute(select(t.pushed_requests))).first() is None


async def test_a_repeated_parameter_or_a_json_body_is_invalid_request(client, ctx):
    rp = await make_client(ctx)
    body = "&".join(f"{k}={v}" for k, v in _par_body(rp["client_id"], pkce_pair()[1]).items()) + "&state=again"
    r = await client.post("/par", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await client.post("/par", json=_par_body(rp["client_id"], pkce_pair()[1]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await client.get("/par")
    assert r.status_code == 405 and r.json()["error"] == "invalid_request"


async def test_a_confidential_client_authenticates_as_at_the_token_endpoint(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, public=False)
    secret = rp["client_secret"]
    bad = await _push(client, rp, auth=(rp["client_id"], "ktcs_wrong"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad.headers["www-authenticate"].startswith("Basic")
    missing = await _push(client, rp)  # client_id alone: not enough for a confidential client
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
    posted = await _push(client, rp, client_secret=secret)
    assert posted.status_code == 201, posted.text
    verifier, challenge = pkce_pair()
    r = await _push(client, rp, challenge, auth=(rp["client_id"], secret))
    assert r.status_code == 201, r.text
    async with ctx.engine.connect() as conn:
        stored = [row["params"] for row in (await conn.execute(select(t.pushed_requests))).mappings()]
    assert all("client_secret" not in p for p in stored) and len(stored) == 2
    loc = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": r.json()["request_uri"]})
    q = await _finish(client, loc.headers["location"], user)
    tokens = await exchange(client, rp["client_id"], q["code"], verifier, client_secret=secret)
    assert tokens.status_code == 200, tokens.text


async def test_a_public_client_sending_a_secret_or_an_unknown_client_is_invalid_client(client, ctx):
    rp = await make_client(ctx)
    r = await _push(client, rp, client_secret="ktcs_whatever")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/par", data=_par_body("no-such-client", pkce_pair()[1]))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_a_credential_without_the_code_flow_is_unauthorized_client(client, make_credential):
    cred = await make_credential()
    r = await client.post("/par", data=_par_body(cred.client_id, pkce_pair()[1]), auth=cred.basic)
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


async def test_an_origin_the_client_allows_is_reflected(client, ctx):
    rp = await make_client(ctx)
    r = await client.post("/par", data=_par_body(rp["client_id"], pkce_pair()[1]),
                          headers={"origin": "https://app.example.test"})
    assert r.status_code == 201 and r.headers["access-control-allow-origin"] == "https://app.example.test"
    r = await client.post("/par", data=_par_body(rp["client_id"], pkce_pair()[1]),
                          headers={"origin": "https://evil.example"})
    assert r.status_code == 201 and "access-control-allow-origin" not in r.headers


async def test_a_client_that_requires_par_is_refused_at_a_plain_authorization_request(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, require_pushed_authorization_requests=True)
    assert rp["require_pushed_authorization_requests"] is True
    _, challenge = pkce_pair()
    plain = _par_body(rp["client_id"], challenge)
    r = await client.get("/authorize", params=plain)
    assert r.status_code == 303, r.text
    q = query_of(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT + "?") and q["error"] == "invalid_request"
    assert q["state"] == "par-state" and "push" in q["error_description"]
    request_uri, verifier = await _pushed(client, rp)
    r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": request_uri})
    q = await _finish(client, r.headers["location"], user)
    assert (await exchange(client, rp["client_id"], q["code"], verifier)).status_code == 200


async def test_discovery_advertises_the_endpoint_and_that_par_is_optional(client):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = (await client.get(path)).json()
        assert meta["pushed_authorization_request_endpoint"] == ISSUER + "/par"
        assert meta["require_pushed_authorization_requests"] is False
        assert meta["code_challenge_methods_supported"] == ["S256"]


async def test_a_shed_request_with_a_request_uri_gets_the_busy_page_and_keeps_it(
        shed_client: httpx.AsyncClient, client, ctx) -> None:  # noqa: F811 - the fixture
    rp = await make_client(ctx)
    request_uri, _ = await _pushed(client, rp)
    params = {"client_id": rp["client_id"], "request_uri": request_uri}
    r = await shed_client.get("/authorize", params=params)
    assert r.status_code == 503 and "location" not in r.headers and "busy" in r.text
    assert (await client.get("/authorize", params=params)).status_code == 303  # not spent


class TestRequiredServerWide:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"require_par": True, "par_lifetime": 30, "allow_plain_pkce": True}

    async def test_every_client_must_push_and_discovery_says_so(self, client, ctx, make_user):
        user = await make_user()
        meta = (await client.get("/.well-known/openid-configuration")).json()
        assert meta["require_pushed_authorization_requests"] is True
        rp = await make_client(ctx)
        assert rp["require_pushed_authorization_requests"] is False
        r = await client.get("/authorize", params=_par_body(rp["client_id"], pkce_pair()[1]))
        assert r.status_code == 303 and query_of(r.headers["location"])["error"] == "invalid_request"
        r = await _push(client, rp, code_challenge_method="plain")  # plain PKCE never, even when allowed
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        verifier, challenge = pkce_pair()
        r = await _push(client, rp, challenge)
        assert r.status_code == 201 and r.json()["expires_in"] == 30
        loc = await client.get("/authorize", params={"client_id": rp["client_id"],
                                                     "request_uri": r.json()["request_uri"]})
        q = await _finish(client, loc.headers["location"], user)
        assert (await exchange(client, rp["client_id"], q["code"], verifier)).status_code == 200


async def test_the_management_api_registers_and_shows_the_flag(client, ctx, make_user):
    user = await make_user()
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    body = {"name": "FAPI app", "type": "confidential", "redirect_uris": [REDIRECT],
            "require_pushed_authorization_requests": True}
    r = await client.post("/api/oidc-clients", json=body, headers={"Authorization": admin})
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["require_pushed_authorization_requests"] is True and created["client_secret"]
    plain_rp = await client.post("/api/oidc-clients", json={**body, "require_pushed_authorization_requests": None},
                                 headers={"Authorization": admin})
    assert plain_rp.status_code == 400  # a StrictBool: null is not false
    listed = (await client.get("/api/oidc-clients", headers={"Authorization": admin})).json()["data"]
    assert [c["require_pushed_authorization_requests"] for c in listed] == [True]
    r = await client.get("/authorize", params=_par_body(created["client_id"], pkce_pair()[1]))
    assert r.status_code == 303 and query_of(r.headers["location"])["error"] == "invalid_request"
    for bad in ("yes", 1):
        r = await client.post("/api/oidc-clients", json={**body, "require_pushed_authorization_requests": bad},
                              headers={"Authorization": admin})
        assert r.status_code == 400 and r.json()["status"] == "ERROR", r.text


def test_the_cli_registers_a_client_that_requires_par(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": ISSUER, "KEYTURN_SETTINGS_FILE": "",
                        "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    args = ["clients", "create", "--name", "FAPI app", "--confidential", "--redirect-uri", REDIRECT]
    on = runner.invoke(cli_app, [*args, "--require-pushed-authorization-requests"])
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout)["require_pushed_authorization_requests"] is True
    off = runner.invoke(cli_app, args)
    assert off.exit_code == 0 and json.loads(off.stdout)["require_pushed_authorization_requests"] is False


class TestFailureLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"client_auth_max_failures": 2}

    async def test_failed_authentications_at_par_count_as_at_the_token_endpoint(self, client, ctx):
        rp = await make_client(ctx, public=False)
        for _ in range(2):
            r = await _push(client, rp, auth=(rp["client_id"], "ktcs_wrong"))
            assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        r = await _push(client, rp, auth=(rp["client_id"], rp["client_secret"]))
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
        token = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "ktrt_x"},
                                  auth=(rp["client_id"], rp["client_secret"]))
        assert token.status_code == 429  # one counter for the client, whichever endpoint it failed at


async def test_the_database_away_is_a_503_in_each_endpoints_shape(client, ctx, monkeypatch: pytest.MonkeyPatch):
    from keyturn.storage import pushed_requests as store
    rp = await make_client(ctx)
    request_uri, _ = await _pushed(client, rp)

    async def away(*args: Any, **kw: Any) -> None:
        raise ConnectionRefusedError("the database is away")

    with monkeypatch.context() as m:
        m.setattr(store, "insert_pushed_request", away)
        m.setattr(store, "find_pushed_request", away)
        r = await _push(client, rp)
        assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable" and r.headers["retry-after"]
        r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": request_uri})
        assert r.status_code == 503 and "location" not in r.headers and "text/html" in r.headers["content-type"]
    r = await client.get("/authorize", params={"client_id": rp["client_id"], "request_uri": request_uri})
    assert r.status_code == 303  # nothing was spent
