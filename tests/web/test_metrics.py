"""``GET /metrics`` and the counting layer, in-process through the front ``keyturn serve`` runs.

Counters are process-wide, so every test compares a scrape before and after what it does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from keyturn.services.context import Services
from keyturn.services.oidc import login
from keyturn.settings import Settings
from keyturn.web.server.metrics import RequestMetrics, address_allowed
from tests.conftest import ISSUER, CredentialFixture, UserFixture

MakeCredential = Callable[..., Awaitable[CredentialFixture]]
TOKEN = "scrape-token-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> str:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert r.headers["cache-control"] == "no-store"
    return r.text


@pytest.fixture
async def outside(app_and_ctx: tuple[Any, Services]) -> AsyncIterator[httpx.AsyncClient]:
    """A client calling from an address outside the default allow-list."""
    transport = httpx.ASGITransport(app=app_and_ctx[0], client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


async def test_requests_are_counted_by_route_template_method_and_status(
        client: httpx.AsyncClient, make_credential: MakeCredential, ctx: Services) -> None:
    cred = await make_credential(refresh="1d")
    before = await scrape(client)
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200
    owner = await client.get(f"/api/v2/credential/{cred.client_id}/nothing-here")
    assert owner.status_code in (401, 404)
    random = await client.get("/no/such/path/4f1a9c")
    assert random.status_code == 404
    weird = await client.request("BREW", "/token")
    assert weird.status_code == 405
    after = await scrape(client)

    assert value(after, "keyturn_http_requests_total", route="/token", method="POST", status="200") == \
        value(before, "keyturn_http_requests_total", route="/token", method="POST", status="200") + 1
    assert value(after, "keyturn_http_requests_total", route="other", method="GET", status="404") >= \
        value(before, "keyturn_http_requests_total", route="other", method="GET", status="404") + 1
    assert value(after, "keyturn_http_requests_total", route="/token", method="other", status="405") == \
        value(before, "keyturn_http_requests_total", route="/token", method="other", status="405") + 1
    assert value(after, "keyturn_http_request_duration_seconds_count", route="/token") == \
        value(before, "keyturn_http_request_duration_seconds_count", route="/token") + 2  # the 200 and the 405
    assert "4f1a9c" not in after and "BREW" not in after  # never a raw path or method as a label
    assert cred.client_id not in after
    # what the token request did on its way
    assert value(after, "keyturn_tokens_issued_total", grant="client_credentials") == \
        value(before, "keyturn_tokens_issued_total", grant="client_credentials") + 1
    assert value(after, "keyturn_group_commit_batch_size_count") >= \
        value(before, "keyturn_group_commit_batch_size_count") + 1
    assert value(after, "keyturn_cache_lookups_total", cache="clients", result="miss") >= \
        value(before, "keyturn_cache_lookups_total", cache="clients", result="miss") + 1


async def test_a_management_route_is_counted_by_its_template(
        client: httpx.AsyncClient, make_user: Callable[..., Awaitable[UserFixture]],
        make_credential: MakeCredential) -> None:
    user = await make_user()
    cred = await make_credential(owner=user)
    before = await scrape(client)
    r = await client.get(f"/api/v2/credential/{cred.client_id}", headers=user.headers)
    assert r.status_code == 200
    after = await scrape(client)
    routes = {dict(labels).get("route") for (name, labels) in samples(after)
              if name == "keyturn_http_requests_total"}
    assert "/api/v2/credential/{client_id}" in routes
    assert value(after, "keyturn_http_requests_total", route="/api/v2/credential/{client_id}", method="GET",
                 status="200") == value(before, "keyturn_http_requests_total", route="/api/v2/credential/{client_id}",
                                        method="GET", status="200") + 1


async def test_client_authentication_failures_are_counted_by_reason(
        client: httpx.AsyncClient, make_credential: MakeCredential) -> None:
    cred = await make_credential()
    before = await scrape(client)
    for auth, reason in (((cred.client_id, "wrong-secret"), "bad_secret"),
                         (("no-such-client-id", "x"), "unknown_client")):
        r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
        assert r.status_code == 401
        after = await scrape(client)
        assert value(after, "keyturn_client_auth_failures_total", reason=reason) == \
            value(before, "keyturn_client_auth_failures_total", reason=reason) + 1
    r = await client.post("/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 401
    after = await scrape(client)
    assert value(after, "keyturn_client_auth_failures_total", reason="missing") == \
        value(before, "keyturn_client_auth_failures_total", reason="missing") + 1
    assert "wrong-secret" not in after


async def test_refresh_token_reuse_is_counted(client: httpx.AsyncClient, make_credential: MakeCredential) -> None:
    cred = await make_credential(refresh="1d")
    first = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    before = await scrape(client)
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert (await client.post("/token", data=refresh, auth=cred.basic)).status_code == 200
    assert (await client.post("/token", data=refresh, auth=cred.basic)).status_code == 400
    after = await scrape(client)
    assert value(after, "keyturn_replays_detected_total", kind="refresh_token") == \
        value(before, "keyturn_replays_detected_total", kind="refresh_token") + 1
    assert value(after, "keyturn_tokens_issued_total", grant="refresh_token") == \
        value(before, "keyturn_tokens_issued_total", grant="refresh_token") + 1


async def test_login_failures_are_counted_by_reason(
        client: httpx.AsyncClient, ctx: Services, make_user: Callable[..., Awaitable[UserFixture]]) -> None:
    user = await make_user()
    before = await scrape(client)
    for identifier, reason in ((user.email, "bad_password"), ("nobody-here@example.test", "unknown_user")):
        with pytest.raises(login.LoginFailed):
            await login.authenticate(ctx, identifier, "not the password", "198.51.100.4", ctx.clock())
        after = await scrape(client)
        assert value(after, "keyturn_login_failures_total", reason=reason) == \
            value(before, "keyturn_login_failures_total", reason=reason) + 1


async def test_a_locked_login_is_counted_as_locked_and_rate_limited(
        client: httpx.AsyncClient, ctx: Services, make_user: Callable[..., Awaitable[UserFixture]]) -> None:
    user = await make_user()
    for _ in range(ctx.settings.login_max_failures):
        with pytest.raises(login.LoginFailed):
            await login.authenticate(ctx, user.email, "not the password", "198.51.100.9", ctx.clock())
    before = await scrape(client)
    with pytest.raises(login.LoginFailed):
        await login.authenticate(ctx, user.email, user.password, "198.51.100.9", ctx.clock())
    after = await scrape(client)
    assert value(after, "keyturn_login_failures_total", reason="locked") == \
        value(before, "keyturn_login_failures_total", reason="locked") + 1
    assert value(after, "keyturn_rate_limited_total", limit="login") == \
        value(before, "keyturn_rate_limited_total", limit="login") + 1


async def test_database_connections_in_use_go_back_down(client: httpx.AsyncClient, ctx: Services) -> None:
    idle = value(await scrape(client), "keyturn_database_connections_in_use")
    async with ctx.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
        assert value(await scrape(client), "keyturn_database_connections_in_use") == idle + 1
    assert value(await scrape(client), "keyturn_database_connections_in_use") == idle


async def test_an_address_outside_the_allow_list_gets_the_404_of_an_unknown_path(
        outside: httpx.AsyncClient) -> None:
    refused = await outside.get("/metrics")
    unknown = await outside.get("/no-such-endpoint")
    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()
    assert "keyturn_" not in refused.text


class TestToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": TOKEN, "metrics_allow": ("0.0.0.0/0", "::/0")}

    async def test_the_token_is_required(self, client: httpx.AsyncClient, outside: httpx.AsyncClient) -> None:
        for c in (client, outside):  # any address now; the token decides
            missing = await c.get("/metrics")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"] == 'Bearer realm="keyturn"'
            wrong = await c.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
            assert wrong.status_code == 401
            assert TOKEN not in wrong.text and TOKEN not in wrong.headers.get("www-authenticate", "")
            bare = await c.get("/metrics", headers={"Authorization": TOKEN})  # no Bearer prefix
            assert bare.status_code == 401
            ok = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200 and "keyturn_http_requests_total" in ok.text


class TestTokenAndAllowList:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": TOKEN}

    async def test_a_token_from_a_refused_address_is_still_refused(self, outside: httpx.AsyncClient) -> None:
        r = await outside.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404


class TestMetricsOff:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics": False}

    async def test_no_endpoint_and_no_counting_layer(self, client: httpx.AsyncClient,
                                                     app_and_ctx: tuple[Any, Services]) -> None:
        assert (await client.get("/metrics")).status_code == 404
        layer = app_and_ctx[0]
        while layer is not None:
            assert not isinstance(layer, RequestMetrics)
            layer = getattr(layer, "app", None) if not hasattr(layer, "router") else None


def test_the_front_counts_when_metrics_are_on(app_and_ctx: tuple[Any, Services]) -> None:
    layers, layer = [], app_and_ctx[0]
    while layer is not None and not hasattr(layer, "router"):
        layers.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    # inside the request id (its id is on the metrics' failures too), outside shedding and the lean front
    assert layers[:2] == ["RequestId", "RequestMetrics"], layers  # the access log is off in-process


@pytest.mark.parametrize(("host", "blocks", "allowed"), [
    ("127.0.0.1", ("127.0.0.0/8", "::1/128"), True),
    ("::1", ("127.0.0.0/8", "::1/128"), True),
    ("::ffff:127.0.0.1", ("127.0.0.0/8",), True),
    ("10.1.2.3", ("127.0.0.0/8", "::1/128"), False),
    ("10.1.2.3", ("10.0.0.0/8",), True),
    ("not-an-ip", ("0.0.0.0/0",), False),
    (None, ("0.0.0.0/0",), False),
    ("", ("0.0.0.0/0",), False),
])
def test_address_allowed(host: str | None, blocks: tuple[str, ...], allowed: bool) -> None:
    assert address_allowed(host, blocks) is allowed


def test_metrics_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    base: dict[str, Any] = {"environment": "development"}
    assert Settings(**base).metrics is True
    assert Settings(**base).metrics_allow == ("127.0.0.0/8", "::1/128")
    assert Settings(**base, metrics_allow="10.1.2.3/8, 192.0.2.1").metrics_allow == ("10.0.0.0/8", "192.0.2.1/32")
    monkeypatch.setenv("KEYTURN_METRICS_ALLOW", "10.0.0.0/8 ::1")
    monkeypatch.setenv("KEYTURN_METRICS", "false")
    from_env = Settings(**base)
    assert from_env.metrics_allow == ("10.0.0.0/8", "::1/128") and from_env.metrics is False
    with pytest.raises(ValueError, match="CIDR"):
        Settings(**base, metrics_allow="10.0.0.0/33")
    with pytest.raises(ValueError, match="CIDR"):
        Settings(**base, metrics_allow="somewhere")
    with pytest.raises(ValueError, match="16 printable"):
        Settings(**base, metrics_token="short")
    with pytest.raises(ValueError, match="16 printable"):
        Settings(**base, metrics_token="has a space inside it")
    assert Settings(**base, metrics_token=TOKEN).metrics_token == TOKEN


async def test_the_counting_layer_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> Any:
        return {}

    async def drop(message: Any) -> None:
        return None

    await RequestMetrics(inner)({"type": "lifespan"}, nothing, drop)
    assert seen == ["lifespan"]


async def test_a_request_that_fails_before_answering_is_counted_as_500() -> None:
    from keyturn import metrics

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def nothing() -> Any:
        return {}

    async def drop(message: Any) -> None:
        return None

    child = metrics.HTTP_REQUESTS.labels("other", "GET", "500")
    before = child._value.get()
    with pytest.raises(RuntimeError):
        await RequestMetrics(broken)({"type": "http", "method": "GET", "path": "/x"}, nothing, drop)
    assert child._value.get() == before + 1
