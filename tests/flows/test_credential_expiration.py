"""Issue 13 item 6: a credential's ``expiration`` (seed 000's field): set at create and update (ISO 8601 with an
offset, in the future; ``none`` removes it on update), answered in the seed's shape; past it the credential gets
``invalid_client`` at /token (counted as ``expired_client``), its refresh tokens stop working (and stay dead
when it is extended), its access tokens introspect inactive. SQLite and PostgreSQL; the services clock moves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from keyturn import metrics
from keyturn.cli.main import app as cli_app
from keyturn.core.errors import ApiError
from keyturn.core.models import Principal
from keyturn.services import credentials as credentials_service
from tests.conftest import ISSUER

HOUR = 3600.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _expired_failures() -> float:
    return float(metrics.CLIENT_AUTH_FAILURES.labels("expired_client")._value.get())  # noqa: SLF001


async def _token(client: Any, cred: Any) -> Any:
    return await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)


async def test_create_read_and_update_answer_the_expiration_in_the_seeds_shape(client, clock, make_user):
    user = await make_user()
    at = int(clock() + 2 * HOUR)
    body = {"name": "my.app.cu", "scope": "payments:read",
            "expiration": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")}
    r = await client.post("/api/v2/credential", json=body, headers=user.headers)
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["expiration"] == datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    path = f"/api/v2/credential/{d['username']}"
    assert (await client.get(path, headers=user.headers)).json()["data"]["expiration"] == d["expiration"]
    # Another offset names the same instant; "none" removes it; absent leaves it.
    later = datetime.fromtimestamp(at + HOUR, UTC).astimezone().isoformat()
    r = await client.patch(path, json={"expiration": "2099-01-01T02:00:00+02:00"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["data"]["expiration"] == "2099-01-01T00:00:00.000Z"
    for same in ("20990101T000000Z", "2099-01-01 00:00:00.000+00:00", "2098-12-31t19:00:00-05:00"):
        r = await client.patch(path, json={"expiration": same}, headers=user.headers)
        assert r.status_code == 200 and r.json()["data"]["expiration"] == "2099-01-01T00:00:00.000Z", same
    r = await client.put(path, json={"expiration": later}, headers=user.headers)
    assert r.status_code == 200 and r.json()["data"]["expiration"].startswith(_iso(at + HOUR)[:19])
    r = await client.put(path, json={"name": "renamed"}, headers=user.headers)
    assert r.json()["data"]["expiration"].startswith(_iso(at + HOUR)[:19])
    r = await client.put(path, json={"expiration": "none"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["data"]["expiration"] is None
    # null at create is "never", as in the seed's answer
    r = await client.post("/api/v2/credential", json={**body, "expiration": None}, headers=user.headers)
    assert r.status_code == 200 and r.json()["data"]["expiration"] is None


async def test_bad_expirations_are_400_in_the_apis_shape_and_change_nothing(client, clock, make_user,
                                                                           make_credential):
    user = await make_user()
    cred = await make_credential(user)
    path = f"/api/v2/credential/{cred.client_id}"
    bad = ["tomorrow", "", "2099-01-01", "2099-01-01Z", "2099-01-01+02:00",
           "2099-01-01T00:00:00", "2099-13-01T00:00:00Z", "2099-01-01T25:00:00Z",
           _iso(clock() - 1), _iso(int(clock())), "9999-12-31T23:59:59-14:00", "2099-01-01T00:00:00+25:00", 4102444800,
           True, ["2099-01-01T00:00:00Z"], "x" * 101, "2099-01-01T00:00:00Z\x00"]
    for value in bad:
        r = await client.post("/api/v2/credential", json={"name": "x", "expiration": value}, headers=user.headers)
        assert r.status_code == 400, (value, r.text)
        assert r.json()["status"] == "ERROR" and r.json()["error"] == "INVALID_REQUEST" and r.json()["message"]
        r = await client.put(path, json={"expiration": value}, headers=user.headers)
        assert r.status_code == 400, (value, r.text)
    r = await client.put(path, json={"expiration": None}, headers=user.headers)
    assert r.status_code == 400 and "null" in r.json()["message"]
    r = await client.post("/api/v2/credential", json={"name": "x", "expiration": "none"}, headers=user.headers)
    assert r.status_code == 400  # "none" is an update's word; create says null
    listed = (await client.get("/api/v2/credential", headers=user.headers)).json()["data"]
    assert [c["username"] for c in listed] == [cred.client_id] and listed[0]["expiration"] is None


async def test_an_expired_credential_gets_invalid_client_and_its_refresh_tokens_stop(client, clock,
                                                                                    make_credential):
    cred = await make_credential(refresh="30d", expiration=_iso(clock() + HOUR))
    r = await _token(client, cred)
    assert r.status_code == 200, r.text
    access, refresh = r.json()["access_token"], r.json()["refresh_token"]
    intro = await client.post("/introspect", data={"token": access}, auth=cred.basic)
    assert intro.json()["active"] is True
    other = await make_credential()  # a resource server introspecting the expired credential's token
    assert (await client.post("/introspect", data={"token": access}, auth=other.basic)).json()["active"] is True

    clock.advance(HOUR + 0.001)  # just past the expiration (ISO keeps microseconds)
    before = _expired_failures()
    r = await _token(client, cred)
    assert r.status_code == 401 and r.json() == {"error": "invalid_client",
                                                 "error_description": "client authentication failed"}
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=cred.basic)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert _expired_failures() == before + 2
    # Whatever the secret, an expired credential cannot authenticate: a wrong one counts as expired too.
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=(cred.client_id, "wrong"))
    assert r.status_code == 401 and _expired_failures() == before + 3
    # Its access token (still within exp) introspects inactive for any caller; the expired client cannot ask.
    assert (await client.post("/introspect", data={"token": access}, auth=other.basic)).json() == {"active": False}
    assert (await client.post("/introspect", data={"token": access}, auth=cred.basic)).status_code == 401


async def test_extending_an_expired_credential_does_not_revive_its_refresh_tokens(client, clock, ctx,
                                                                                 make_user, make_credential):
    user = await make_user()
    cred = await make_credential(user, refresh="30d", expiration=_iso(clock() + 60))
    live = await make_credential(user, refresh="30d", expiration=_iso(clock() + 3 * HOUR))
    refresh = (await _token(client, cred)).json()["refresh_token"]
    live_refresh = (await _token(client, live)).json()["refresh_token"]
    clock.advance(61)
    r = await client.put(f"/api/v2/credential/{cred.client_id}", json={"expiration": _iso(clock() + HOUR)},
                         headers=user.headers)
    assert r.status_code == 200, r.text
    assert (await _token(client, cred)).status_code == 200  # authenticates again
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=cred.basic)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # Updating a credential that has not expired leaves its refresh tokens alone.
    r = await client.put(f"/api/v2/credential/{live.client_id}", json={"expiration": _iso(clock() + 9 * HOUR)},
                         headers=user.headers)
    assert r.status_code == 200
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": live_refresh},
                          auth=live.basic)
    assert r.status_code == 200, r.text


async def test_the_cli_sets_and_removes_an_expiration(app_and_ctx, ctx, clock, make_user, make_credential, settings,
                                                      monkeypatch) -> None:
    owner = await make_user()
    for key, value in settings.model_dump(mode="json").items():
        if value is not None:
            monkeypatch.setenv(f"KEYTURN_{key.upper()}", value if isinstance(value, str) else
                               " ".join(value) if isinstance(value, list) else str(value))

    async def cli(*args: str, ok: bool = True) -> str:
        result = await asyncio.to_thread(CliRunner().invoke, cli_app, [*args, "--json"])
        assert (result.exit_code == 0) is ok, result.output
        return str(result.output)
    out = await cli("credentials", "create", "--user", owner.email, "--name", "c", "--scope", "payments:read",
                    "--expiration", "2098-05-06T07:08:09Z")
    assert '"expiration": "2098-05-06T07:08:09.000Z"' in out
    client_id = out.split('"username": "')[1].split('"')[0]
    assert '"expiration": "2099-01-01T00:00:00.000Z"' in await cli("credentials", "expire", client_id,
                                                                    "2099-01-01T00:00:00Z")
    assert '"expiration": null' in await cli("credentials", "expire", client_id, "none")
    await cli("credentials", "expire", client_id, "2001-01-01T00:00:00Z", ok=False)
    await cli("credentials", "expire", "nope", "2099-01-01T00:00:00Z", ok=False)
    await cli("credentials", "create", "--user", owner.email, "--name", "d", "--expiration", "soon", ok=False)
    # The operator extends a credential found expired: its refresh tokens are revoked first. (The CLI runs on
    # the real clock, the services clock moves only here, so this goes through the use case the CLI calls.)
    cred = await make_credential(owner, refresh="1d", expiration=_iso(clock() + 60))
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        refresh = (await _token(client, cred)).json()["refresh_token"]
        clock.advance(61)
        extended = await credentials_service.set_expiration(ctx, cred.client_id, _iso(clock() + HOUR))
        assert extended.expiration is not None and extended.active(clock())
        assert (await _token(client, cred)).status_code == 200
        r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh},
                              auth=cred.basic)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_access_tokens_never_outlive_the_credential(client, clock, ctx, make_credential):
    """A resource server validating JWTs offline (keyturn.rs) stops accepting them at the expiration too."""
    at = clock() + 600.5
    cred = await make_credential(refresh="1d", expiration=_iso(at))
    r = await _token(client, cred)
    body = r.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == claims["exp"] - claims["iat"] <= 601 and at - 1 < claims["exp"] <= at
    clock.advance(300)
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                          auth=cred.basic)
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert r.json()["expires_in"] <= 302 and at - 1 < claims["exp"] <= at
    never = await make_credential()
    assert (await _token(client, never)).json()["expires_in"] == ctx.settings.access_token_ttl


async def test_an_expired_credentials_browser_origins_stop_at_once(clock, ctx, make_credential):
    """The allowed-origin index (CORS) is rebuilt when the next credential expires, not up to its TTL later."""
    await make_credential(domain="*.shop.example", expiration=_iso(clock() + 2))
    origin = "https://www.shop.example"
    assert await ctx.origins.allows(origin, clock())
    clock.advance(1)
    assert await ctx.origins.allows(origin, clock())
    clock.advance(1.01)  # past the expiration, well within the index's 5 s
    assert not await ctx.origins.allows(origin, clock())



async def test_the_use_case_checks_what_the_api_model_cannot_see(client, clock, ctx, make_credential):
    """The CLI and in-process callers reach ``validate_expiration`` without the request model in front."""
    for value in (4102444800, True, ["x"]):
        with pytest.raises(ApiError) as caught:
            credentials_service.validate_expiration(value, clock())
        assert caught.value.status_code == 400 and "string" in caught.value.message
    assert credentials_service.validate_expiration(None, clock()) is None
    # A disabled credential (not expired) keeps its own failure reason.
    cred = await make_credential()
    await credentials_service.update(ctx, Principal(kind="user", id=cred.data["ownerId"]), cred.client_id,
                                     {"status": 1})
    inactive = metrics.CLIENT_AUTH_FAILURES.labels("inactive_client")
    before, expired = inactive._value.get(), _expired_failures()  # noqa: SLF001
    assert (await _token(client, cred)).status_code == 401
    assert inactive._value.get() == before + 1 and _expired_failures() == expired  # noqa: SLF001
