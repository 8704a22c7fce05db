"""Hypothesis fuzz of /token, /introspect, /revoke and /par: random bodies, content types and headers.
Never a 5xx; always RFC 6749 §5.2 JSON (or a 200 token/introspection answer) with no-store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyturn.core.models import Principal
from keyturn.services import credentials as credentials_service
from keyturn.services.context import build_services
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.users import create_user
from keyturn.settings import Settings
from keyturn.web.app import create_app, front

RFC_ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
              "unsupported_grant_type", "invalid_scope"}
PATHS = ["/token", "/api/v2/access/token", "/introspect", "/revoke"]


class SyncClient:
    """Drive the ASGI app on a private event loop, so Hypothesis can call it from a sync test."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
        self.loop, self.client = loop, client

    def post(self, path: str, **kw: object) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(path, **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncClient, dict[str, str]]]:
    db = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db"
    s = Settings(environment="development", issuer="http://keyturn.test", database_url=f"sqlite+aiosqlite:///{db}",
                 client_auth_max_failures=1000000)
    ctx = build_services(s)
    app = create_app(ctx, run_migrations=True)
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=front(app, s), client=("127.0.0.1", 5)),
                               base_url="http://keyturn.test")

    async def setup() -> dict[str, str]:
        user, _ = await create_user(ctx, email="fuzz@example.test", phone_number=None, password="fuzzing pass 1")
        issued = await credentials_service.create(ctx, Principal(kind="user", id=user.id),
                                                {"name": "fuzz", "scope": "ALLOW_OTA_CHARGE", "refresh": "1d"})
        rp = await oidc_clients.create(ctx, name="fuzz app", public=True, redirect_uris=["https://app.test/cb"])
        return {"client_id": issued.record.client_id, "client_secret": str(issued.secret),
                "rp": rp.record.client_id}
    try:
        yield SyncClient(loop, client), loop.run_until_complete(setup())
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


KEYS = st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "refresh_token", "token",
                        "token_type_hint", "code", "x", ""]) | st.text(max_size=8)
VALUES = st.sampled_from(["client_credentials", "refresh_token", "authorization_code", "password", "a", "a b",
                          "ktrt_x", "CID", "SECRET"]) | st.text(max_size=40)
CTYPES = st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain",
                          "application/x-www-form-urlencoded; charset=latin-1", "multipart/form-data", "",
                          "application/problem+json"])
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                       lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                       max_leaves=8)


def _body(kind: str, pairs: list[tuple[str, str]], raw: bytes, blob: object, cred: dict[str, str]) -> bytes:
    fill = [(k, v.replace("CID", cred["client_id"]).replace("SECRET", cred["client_secret"])) for k, v in pairs]
    if kind == "form":
        from urllib.parse import urlencode
        return urlencode(fill).encode()
    if kind == "json":
        return json.dumps(dict(fill)).encode()
    if kind == "jsonish":
        return json.dumps(blob).encode()
    return raw


AUTH = st.sampled_from([None, "Basic", "Basic !!", "Bearer x", "Basic Q0lEOlNFQ1JFVA==", "basic  ", "Basic " + "=" * 9])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), kind=st.sampled_from(["form", "json", "jsonish", "raw"]),
       pairs=st.lists(st.tuples(KEYS, VALUES), max_size=6), raw=st.binary(max_size=200), blob=JSONISH,
       ctype=CTYPES, auth=AUTH, origin=st.sampled_from([None, "null", "https://evil.test", "http://[::1", "x"]))
def test_no_body_a_client_can_send_gets_a_5xx(fuzz, path, kind, pairs, raw, blob, ctype, auth, origin):
    tc, cred = fuzz
    headers = {"content-type": ctype}
    if auth:
        headers["authorization"] = auth
    if origin:
        headers["origin"] = origin
    r = tc.post(path, content=_body(kind, pairs, raw, blob, cred), headers=headers)
    assert r.status_code < 500, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    if r.status_code >= 400:
        assert body["error"] in RFC_ERRORS, body
        desc = body.get("error_description", "")
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in desc), desc
        if r.status_code == 401:
            assert r.headers["www-authenticate"].startswith("Basic ")


def test_the_fuzzer_reaches_success_paths(fuzz):
    tc, cred = fuzz
    basic = {"client_id": cred["client_id"], "client_secret": cred["client_secret"]}
    r = tc.post("/token", json={"grant_type": "client_credentials", **basic})
    assert r.status_code == 200
    r = tc.post("/introspect", data={"token": r.json()["access_token"], **basic})
    assert r.json()["active"] is True


PAR_KEYS = st.sampled_from(["response_type", "client_id", "client_secret", "redirect_uri", "scope", "state", "nonce",
                            "code_challenge", "code_challenge_method", "prompt", "max_age", "request_uri", "request",
                            "response_mode", "x"]) | st.text(max_size=8)
PAR_VALUES = st.sampled_from(["code", "token", "RP", "https://app.test/cb", "openid", "openid email", "S256", "plain",
                              "none", "login", "5", "-1", "urn:ietf:params:oauth:request_uri:x", "query",
                              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "a" * 43]) | st.text(max_size=40)
PAR_ERRORS = RFC_ERRORS | {"unsupported_response_type", "request_not_supported"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["form", "form", "json", "raw"]),
       pairs=st.lists(st.tuples(PAR_KEYS, PAR_VALUES), max_size=9), raw=st.binary(max_size=200), ctype=CTYPES,
       auth=AUTH)
def test_no_pushed_request_a_client_can_send_gets_a_5xx(fuzz, kind, pairs, raw, ctype, auth):
    """RFC 9126 §2.3: a pushed authorization request is answered 201 or RFC 6749 §5.2 JSON, never a 5xx."""
    tc, cred = fuzz
    headers = {"content-type": ctype}
    if auth:
        headers["authorization"] = auth
    filled = [(k, v.replace("RP", cred["rp"])) for k, v in pairs]
    r = tc.post("/par", content=_body(kind, filled, raw, None, cred), headers=headers)
    assert r.status_code < 500, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    if r.status_code == 201:
        assert set(body) == {"request_uri", "expires_in"}
    else:
        assert r.status_code in (400, 401) and body["error"] in PAR_ERRORS, body
        desc = body.get("error_description", "")
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in desc), desc


def test_the_par_fuzzer_reaches_success(fuzz):
    tc, cred = fuzz
    r = tc.post("/par", data={"response_type": "code", "client_id": cred["rp"], "code_challenge": "a" * 43,
                              "code_challenge_method": "S256"})
    assert r.status_code == 201, r.text
