"""The front's outer layers (issue 12 items 8 and 13): request ids and load shedding, in process.

The live behaviour (a real server under 200 connections, JSON logs of a real process) is in
tests/faults/test_front_live.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from keyturn.core.logcontext import REQUEST_ID, current_request_id
from keyturn.logconfig import KeyturnFilter
from keyturn.services.context import Services
from keyturn.web import routes
from keyturn.web.server.requestid import RequestId
from keyturn.web.server.shedding import ADMITTED, SHED, VERDICT_KEY, Shedding, find_shedding
from tests.conftest import ISSUER

EXTRA = [(b"x-content-type-options", b"nosniff")]


def shed_count() -> float:
    return REGISTRY.get_sample_value("keyturn_load_shed_total") or 0.0


async def test_the_request_id_is_echoed_replaced_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-Id": "lb-7f3a.1"})
    assert given.headers["x-request-id"] == "lb-7f3a.1"
    for bad in (b"x" * 129, b"two words", "é".encode(), b"a\x00b"):
        r = await client.get("/health", headers={b"X-Request-Id": bad})
        assert r.headers["x-request-id"].encode() != bad and len(r.headers["x-request-id"]) == 22
    a, b = await client.get("/jwks"), await client.post("/token", data={})
    assert a.headers["x-request-id"] != b.headers["x-request-id"]  # errors carry one too
    assert b.status_code in (400, 401)
    assert current_request_id() is None  # reset after each request


async def test_every_log_line_of_a_request_carries_its_id(client: httpx.AsyncClient, make_credential: Any,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    cred = await make_credential()
    caplog.handler.addFilter(KeyturnFilter())
    caplog.set_level(logging.INFO, logger="keyturn")
    ids = []
    for n in range(3):
        r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "ktrt_" + "y" * 43},
                              auth=(cred.client_id, cred.client_secret), headers={"X-Request-Id": f"req-{n}"})
        assert r.status_code == 400
        ids.append(r.headers["x-request-id"])
    mine = [rec for rec in caplog.records if rec.name.startswith("keyturn")]
    assert mine and {getattr(rec, "request_id", None) for rec in mine} == set(ids)
    assert "ktrt_yyyy" not in caplog.text


async def test_the_group_commit_drainer_carries_no_requests_id(ctx: Services) -> None:
    seen: list[str | None] = []

    async def apply(conn: Any, items: Sequence[int]) -> list[Any]:
        seen.append(current_request_id())
        return [None] * len(items)

    token = REQUEST_ID.set("the-request-that-started-the-drainer")
    try:
        await asyncio.gather(*(ctx.writes.submit(apply, i) for i in range(3)))
    finally:
        REQUEST_ID.reset(token)
    assert seen and set(seen) == {None}


async def _slow(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] == "/boom":
        raise RuntimeError("boom")
    await asyncio.sleep(0.2)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=ISSUER)


async def test_beyond_the_limit_each_audience_gets_its_shape() -> None:
    shedding = Shedding(_slow, 2, routes.table(), EXTRA)
    async with _client(RequestId(shedding)) as c:
        before = shed_count()
        busy = [asyncio.create_task(c.get("/slow")) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert shedding.in_flight == 2
        answers = {path: await c.get(path) for path in (
            "/token", "/introspect", "/jwks", "/api/v2/credential", "/api/v2/credential/abc", "/api/accounts/x/members",
            "/auth/forward", "/authorize", "/api/v2/access/authorize", "/interaction/abc", "/nowhere")}
        exempt = await asyncio.wait_for(asyncio.gather(*(c.get(p) for p in ("/health", "/healthz", "/readyz",
                                                                              "/metrics"))), 5)
        assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]
        assert shedding.in_flight == 0
    assert shed_count() == before + len(answers)
    assert [r.status_code for r in exempt] == [200] * 4
    for path, r in answers.items():
        assert r.status_code == 503 and r.headers["retry-after"] == "1", path
        assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-request-id"]
    for path in ("/token", "/introspect", "/jwks"):
        assert answers[path].json()["error"] == "temporarily_unavailable"
    for path in ("/api/v2/credential", "/api/v2/credential/abc", "/api/accounts/x/members", "/auth/forward"):
        assert answers[path].json() == {"status": "ERROR", "error": "TEMPORARILY_UNAVAILABLE",
                                        "message": answers[path].json()["message"]}
    for path in ("/authorize", "/api/v2/access/authorize", "/interaction/abc", "/nowhere"):
        assert answers[path].headers["content-type"].startswith("text/plain")
        assert answers[path].text.startswith("Service temporarily unavailable")


async def test_a_failing_request_gives_its_place_back() -> None:
    shedding = Shedding(_slow, 1, (), [])
    async with _client(shedding) as c:
        assert (await c.get("/boom")).status_code == 500
        assert shedding.in_flight == 0
        assert (await c.get("/slow")).status_code == 200


async def test_a_verdict_given_on_arrival_is_kept() -> None:
    """Keyturn's protocol (web/server/protocol.py) counts a request when uvicorn starts its task."""
    shedding = Shedding(_slow, 1, (), [])
    scope: dict[str, Any] = {"type": "http", "path": "/token"}
    shedding.arrive(scope)
    assert scope[VERDICT_KEY] == ADMITTED and shedding.in_flight == 1
    second: dict[str, Any] = {"type": "http", "path": "/token"}
    shedding.arrive(second)
    assert second[VERDICT_KEY] == SHED and shedding.in_flight == 1
    health: dict[str, Any] = {"type": "http", "path": "/health"}
    shedding.arrive(health)
    assert VERDICT_KEY not in health
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    await shedding({**second}, receive, send)
    assert sent[0]["status"] == 503
    await shedding({**scope, "method": "GET"}, receive, send)
    assert sent[2]["status"] == 200 and shedding.in_flight == 0
    lifespan: list[str] = []

    async def other(scope: Scope, receive: Receive, send: Send) -> None:
        lifespan.append(scope["type"])
    await Shedding(other, 1, (), [])({"type": "lifespan"}, receive, send)
    await RequestId(other)({"type": "lifespan"}, receive, send)
    assert lifespan == ["lifespan", "lifespan"]


def test_the_layer_is_found_through_the_front(app_and_ctx: tuple[Any, Services]) -> None:
    asgi, _ = app_and_ctx
    assert isinstance(find_shedding(asgi), Shedding)
    assert find_shedding(object()) is None
    with pytest.raises(ValueError):
        Shedding(_slow, 0, (), [])


@pytest.mark.parametrize("settings_overrides", [{"max_in_flight": 0, "access_log": True, "log_format": "json"}])
def test_no_limit_means_no_layer(app_and_ctx: tuple[Any, Services]) -> None:
    asgi, _ = app_and_ctx
    assert find_shedding(asgi) is None
    assert asgi.app.json_lines is True  # RequestId → AccessLog in JSON


async def test_the_protocol_counts_on_arrival_and_sheds_without_a_task() -> None:
    """uvicorn with Keyturn's protocol: the verdict is given when the task would start; a shed request on a
    keep-alive connection is answered by the protocol itself (id, Retry-After, access line), an HTTP/1.0 one
    by the layer; then the connection serves its next request."""
    import io

    import uvicorn

    from keyturn.web.server.accesslog import AccessLog, LineBuffer
    from tests.server import free_port
    verdicts: list[str | None] = []
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        verdicts.append(scope.get(VERDICT_KEY))
        if scope["path"] == "/hold":
            await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    out = io.BytesIO()
    buffer = LineBuffer(out)
    port = free_port()
    config = uvicorn.Config(RequestId(AccessLog(Shedding(app, 1, routes.table(), EXTRA), buffer)), host="127.0.0.1",
                            port=port, lifespan="off", http="keyturn.web.server.protocol:HttpProtocol",
                            log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    before = shed_count()
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as c:
            ok = await c.get(f"{base}/token", headers={"X-Request-Id": "via-protocol"})
            assert ok.status_code == 200 and ok.headers["x-request-id"] == "via-protocol"
            held = asyncio.create_task(c.get(f"{base}/hold"))
            await asyncio.sleep(0.2)
            shed = await c.post(f"{base}/token", content=b"grant_type=x" * 100, headers={"X-Request-Id": "shed-1"})
            again = await c.get(f"{base}/api/v2/credential")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /token HTTP/1.0\r\n\r\n")
            old = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            gate.set()
            assert (await held).status_code == 200
            after = await c.get(f"{base}/token")
        assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
        assert shed.headers["x-request-id"] == "shed-1"
        assert shed.json()["error"] == "temporarily_unavailable" and shed.headers["x-content-type-options"] == "nosniff"
        assert again.status_code == 503 and again.json()["error"] == "TEMPORARILY_UNAVAILABLE"
        assert old.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in old.lower()
        assert after.status_code == 200
        assert verdicts == [ADMITTED] * 3  # what reached the app; the shed ones did not
        assert shed_count() == before + 3
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    buffer.flush()
    lines = out.getvalue().decode().splitlines()
    assert sum(" 503 " in line for line in lines) == 3 and any(line.endswith("rid=shed-1") for line in lines)


async def test_access_lines_in_json_with_the_request_id_and_a_masked_path() -> None:
    import io

    from keyturn.web.server.accesslog import AccessLog, LineBuffer, note_client

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        note_client(scope, "client-9")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    out = io.BytesIO()
    for json_lines in (True, False):
        buffer = LineBuffer(out)
        async with _client(RequestId(AccessLog(app, buffer, json_lines=json_lines))) as c:
            await c.get("/revoke/ktrt_" + "z" * 43, headers={"X-Request-Id": "acc-1"})
        buffer.flush()
    json_line, text_line = out.getvalue().decode().splitlines()
    record = json.loads(json_line)
    assert record["request_id"] == "acc-1" and record["status"] == 204 and record["client"] == "client-9"
    assert record["logger"] == "keyturn.access" and record["message"].startswith("GET /revoke/ktrt_…#")
    assert text_line.endswith(" client=client-9 rid=acc-1") and "zzzz" not in text_line


async def test_a_protocol_shed_without_an_access_log() -> None:
    import uvicorn

    from tests.server import free_port
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(RequestId(Shedding(app, 1, (), [])), host="127.0.0.1", port=port,
                                           lifespan="off", http="keyturn.web.server.protocol:HttpProtocol",
                                           log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            held = asyncio.create_task(c.get("/a"))
            await asyncio.sleep(0.2)
            shed = await c.get("/b")
            gate.set()
            assert (await held).status_code == 200 and shed.status_code == 503
            assert shed.text.startswith("Service temporarily unavailable")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def shed_client(app_and_ctx: tuple[Any, Services]) -> Any:
    """The served front, every request arriving with the verdict 'shed' (as the protocol gives it beyond the limit)."""
    asgi, _ = app_and_ctx

    async def overloaded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[VERDICT_KEY] = SHED
        await asgi(scope, receive, send)

    async with _client(overloaded) as c:
        yield c


async def test_a_shed_authorization_request_is_redirected_once_the_client_is_proven(
        shed_client: httpx.AsyncClient, ctx: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.oidc.helpers import REDIRECT, authorize_params, make_client, pkce_pair, query_of
    rp = await make_client(ctx)
    params = authorize_params(rp["client_id"], pkce_pair()[1])
    for r in (await shed_client.get("/authorize", params=params),
              await shed_client.post("/api/v2/access/authorize", data=params)):
        assert r.status_code == 303 and r.headers["retry-after"] == "1", r.text
        assert r.headers["location"].startswith(REDIRECT + "?")
        q = query_of(r.headers["location"])
        assert q["error"] == "temporarily_unavailable" and q["state"] == "st-1" and q["iss"] == ISSUER
        assert "set-cookie" not in r.headers  # nothing started: no session, no interaction
    unknown = await shed_client.get("/authorize", params={**params, "client_id": "nope"})
    assert unknown.status_code == 400 and "location" not in unknown.headers and "text/html" in unknown.headers[
        "content-type"]
    malformed = await shed_client.post("/authorize", content=b"x", headers={"content-type": "text/plain"})
    assert malformed.status_code == 400 and "location" not in malformed.headers

    async def unreachable(client_id: str, now: float) -> None:
        raise ConnectionRefusedError("the database is away")

    monkeypatch.setattr(ctx, "client", unreachable)
    away = await shed_client.get("/authorize", params=params)
    assert away.status_code == 503 and "location" not in away.headers and "busy" in away.text
    token = await shed_client.post("/token", data={"grant_type": "client_credentials"})
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"
