"""Request quotas per credential (token endpoint) and per API key (management API), issue 12 item 11: set through
the API and the CLI, stored (migration 0003), enforced with 429 + Retry-After, counted in process or in Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from keyturn.cli.main import app as cli_app
from keyturn.core.errors import ApiError
from keyturn.core.ratelimit import parse_rate_limit, quota
from tests.conftest import Clock
from tests.redisproc import REDIS_URL, redis_prefix

__all__ = ["redis_prefix"]  # fixture


@pytest.fixture(params=["in-process", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        return {"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
    return {}


def test_a_quota_is_written_n_per_s() -> None:
    assert parse_rate_limit(" 100 / 60 ") == "100/60" and parse_rate_limit("none") is None
    assert parse_rate_limit("") is None and quota("5/2") == (5, 2.0) and quota(None) is None
    for bad in ("0/60", "10/0", "10", "a/b", "10/60/1", "2000000/1", "1/100000", 5):
        with pytest.raises(ApiError) as caught:
            parse_rate_limit(bad)
        assert caught.value.status_code == 400


def _limited(limit: str) -> float:
    return REGISTRY.get_sample_value("keyturn_rate_limited_total", {"limit": limit}) or 0.0


async def _token(client: Any, auth: tuple[str, str]) -> Any:
    return await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)


async def test_a_credentials_quota_at_the_token_endpoint(client, ctx, make_user, clock: Clock) -> None:
    owner = await make_user()
    r = await client.post("/api/v2/credential", json={"name": "q", "scope": "payments:read", "rateLimit": "3/60"},
                          headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["rateLimit"] == "3/60", r.text
    cred = r.json()["data"]
    auth = (cred["username"], cred["password"])
    assert [(await _token(client, auth)).status_code for _ in range(3)] == [200, 200, 200]
    before = _limited("client_quota")
    r = await _token(client, auth)
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    assert _limited("client_quota") == before + 1  # keyturn_rate_limited_total{limit="client_quota"}
    assert r.json()["error"] == "invalid_request" and "3 token requests per 60 seconds" in r.json()["error_description"]
    clock.advance(60.5)
    assert (await _token(client, auth)).status_code == 200
    url = f"/api/v2/credential/{cred['username']}"
    for bad in ("3", None, 7):
        r = await client.put(url, json={"rateLimit": bad}, headers=owner.headers)
        assert r.status_code == 400, (bad, r.text)
    r = await client.put(url, json={"rateLimit": "none"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["data"]["rateLimit"] is None
    assert all([(await _token(client, auth)).status_code == 200 for _ in range(5)])
    r = await client.patch(url, json={"rateLimit": "1/10"}, headers=owner.headers)
    assert r.json()["data"]["rateLimit"] == "1/10"
    assert [(await _token(client, auth)).status_code for _ in range(2)] == [200, 429]
    r = await client.post("/api/v2/credential", json={"name": "b", "scope": "payments:read", "rateLimit": "x"},
                          headers=owner.headers)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"


async def test_an_api_keys_quota_at_the_management_api(client, ctx, make_user, make_org, clock: Clock) -> None:
    owner = await make_user()
    org = await make_org(owner)
    url = f"/api/accounts/{org['id']}/api-keys"
    r = await client.post(url, json={"name": "till", "role": "merchant-terminal", "rateLimit": "2/30"},
                          headers=owner.headers)
    assert r.status_code == 201 and r.json()["rateLimit"] == "2/30", r.text
    key = {"X-Api-Key": r.json()["secret"]}
    statuses = [(await client.get("/api/account-memberships", headers=key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = await client.get("/api/account-memberships", headers=key)
    assert r.headers["retry-after"] == "30" and r.json()["error"] == "RATE_LIMITED"
    r = await client.put(f"{url}/till", json={"rateLimit": "none"}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["rateLimit"] is None and r.json()["enabled"] is True
    assert (await client.get("/api/account-memberships", headers=key)).status_code == 200
    r = await client.put(f"{url}/till", json={"rateLimit": "1/5", "enabled": True}, headers=owner.headers)
    assert r.json()["rateLimit"] == "1/5"
    assert [(await client.get(url, headers=key)).status_code for _ in range(2)][1] == 429
    clock.advance(5.5)
    assert (await client.get("/api/account-memberships", headers=key)).status_code == 200
    for body in ({}, {"rateLimit": None}, {"rateLimit": "fast"}):
        r = await client.put(f"{url}/till", json=body, headers=owner.headers)
        assert r.status_code == 400, (body, r.text)


async def test_the_cli_sets_quotas(ctx, make_user, make_org, settings, monkeypatch) -> None:
    owner = await make_user()
    org = await make_org(owner)
    for key, value in settings.model_dump(mode="json").items():
        if value is not None:
            monkeypatch.setenv(f"KEYTURN_{key.upper()}", value if isinstance(value, str) else
                               " ".join(value) if isinstance(value, list) else str(value))

    async def cli(*args: str) -> str:
        result = await asyncio.to_thread(CliRunner().invoke, cli_app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return str(result.output)
    out = await cli("credentials", "create", "--user", owner.email, "--name", "c", "--scope", "payments:read",
                    "--rate-limit", "10/60")
    assert '"rateLimit": "10/60"' in out
    client_id = out.split('"username": "')[1].split('"')[0]
    assert '"rateLimit": "5/1"' in await cli("credentials", "limit", client_id, "5/1")
    assert '"rateLimit": null' in await cli("credentials", "limit", client_id, "none")
    out = await cli("api-keys", "create", "--account", org["id"], "--name", "k", "--role", "merchant-terminal",
                    "--rate-limit", "7/7")
    assert '"rateLimit": "7/7"' in out
    assert '"rateLimit": "9/9"' in await cli("api-keys", "limit", "--account", org["id"], "--name", "k", "9/9")
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, ["credentials", "limit", "nope", "5/1"])
    assert result.exit_code != 0
