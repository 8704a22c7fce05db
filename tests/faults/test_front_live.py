"""Issue 12 items 8, 13 and 17 against a real `keyturn serve` process (SQLite: the front needs no PostgreSQL).

- Load shedding: 200 keep-alive connections sending token requests as fast as they are answered, against
  KEYTURN_MAX_IN_FLIGHT=32 and against no limit: with the limit some answers are 503 + Retry-After: 1 in
  RFC 6749 shape, the rest 200, and for clients that honour Retry-After the p99 is far lower than without it.
- Structured logs: KEYTURN_LOG_FORMAT=json makes every line the server writes (uvicorn's, Keyturn's, the
  access log) a JSON object; a request's lines share the id echoed in X-Request-Id; no secret in the log.
- Graceful shutdown: 16 token requests in flight (their bodies still arriving), SIGTERM: new connections are
  refused, all 16 are answered 200, the process exits 0 within KEYTURN_SHUTDOWN_TIMEOUT.

Figures are printed (``pytest -s``) for the issue's closing note.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import LiveServer, start_server

pytestmark = [pytest.mark.server, pytest.mark.faults]

CONNECTIONS = 200
LIMIT = 32
LOAD_SECONDS = 3.0


def _credential(server: LiveServer, refresh: str = "none") -> tuple[str, str]:
    email = f"front-{time.monotonic_ns()}@example.com"
    user = server.cli("users", "create", "--email", email, "--password", "correct horse battery", "--verified")
    data = server.cli("credentials", "create", "--user", user["id"], "--name", "front", "--refresh", refresh)
    return data["data"]["username"], data["data"]["password"]


def _token_request(host: str, client_id: str, secret: str, body: bytes = b"grant_type=client_credentials") -> bytes:
    basic = base64.b64encode(f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()).decode()
    return (f"POST /token HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.5) - 1)]  # nearest rank


async def _load(port: int, request: bytes, connections: int, seconds: float,
                honor_retry_after: bool = False) -> dict[str, Any]:
    """Each connection sends the next request as soon as the last is answered (after a 503, at once or after its
    Retry-After), for ``seconds`` (bounded)."""
    latencies: list[float] = []
    ok_latencies: list[float] = []
    shed_latencies: list[float] = []
    statuses: dict[int, int] = {}
    shed_bodies: list[tuple[dict[str, str], bytes]] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            errors.append(repr(exc))
            return
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                writer.write(request)
                status, headers, body = await _read_response(reader)
                elapsed = time.perf_counter() - started
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    ok_latencies.append(elapsed)
                elif status == 503:
                    shed_latencies.append(elapsed)
                    if len(shed_bodies) < 5:
                        shed_bodies.append((headers, body))
                    if honor_retry_after:
                        await asyncio.sleep(min(float(headers["retry-after"]), max(0.0, deadline - time.monotonic())))
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors.append(repr(exc))
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(connections))), seconds + 30)
    return {"statuses": statuses, "p99_ms": _p99(latencies) * 1000, "p99_ok_ms": _p99(ok_latencies) * 1000,
            "p99_shed_ms": _p99(shed_latencies) * 1000 if shed_latencies else 0.0,
            "answers": len(latencies), "rps": len(latencies) / seconds, "shed": shed_bodies, "errors": errors}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def _serve(workdir: Path, **env: str) -> LiveServer:
    return start_server(f"sqlite+aiosqlite:///{workdir}/front.db", workdir, env_extra=env)


@pytest.fixture
def stopping() -> Iterator[list[LiveServer]]:
    servers: list[LiveServer] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.timing
def test_load_shedding_answers_503_and_lowers_p99(workdir: Path, stopping: list[LiveServer]) -> None:
    results: dict[str, dict[str, Any]] = {}
    for name, limit in (("limit", LIMIT), ("none", 0)):
        server = _serve(workdir, KEYTURN_MAX_IN_FLIGHT=str(limit), KEYTURN_ACCESS_LOG="false")
        stopping.append(server)
        client_id, secret = _credential(server)
        port = int(server.url.rsplit(":", 1)[1])
        request = _token_request(f"127.0.0.1:{port}", client_id, secret)
        results[name] = asyncio.run(_load(port, request, CONNECTIONS, LOAD_SECONDS))
        if limit:  # clients that wait as told (Retry-After) before they try again
            results["limit, Retry-After honoured"] = asyncio.run(
                _load(port, request, CONNECTIONS, LOAD_SECONDS, honor_retry_after=True))
        # health is exempt: a busy node is not a dead one
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        server.stop()
    limited, unlimited, polite = results["limit"], results["none"], results["limit, Retry-After honoured"]
    for name, r in results.items():
        print(f"\n[shedding] {name}: {CONNECTIONS} connections {LOAD_SECONDS:.0f} s: {r['answers']} answers "
              f"({r['rps']:.0f}/s) {r['statuses']} p99 {r['p99_ms']:.1f} ms, p99 of 200s {r['p99_ok_ms']:.1f} ms, "
              f"p99 of 503s {r['p99_shed_ms']:.1f} ms")
    assert not limited["errors"] and not unlimited["errors"], (limited["errors"][:3], unlimited["errors"][:3])
    assert 200 in polite["statuses"]
    assert set(limited["statuses"]) == {200, 503} and limited["statuses"][503] > 0
    assert set(unlimited["statuses"]) == {200}
    headers, body = limited["shed"][0]
    assert headers["retry-after"] == "1" and headers["cache-control"] == "no-store"
    assert json.loads(body)["error"] == "temporarily_unavailable"
    assert "x-request-id" in headers
    # Clients that wait as told: the answers they get (200s and 503s alike) come much sooner than from a
    # server that only queues. Clients that retry at once keep the worker busy answering 503s (each still
    # costs parsing and a task); their figures are printed, not asserted (a shared 2-core machine).
    assert not polite["errors"] and polite["statuses"][503] > 0
    # (six runs on a shared machine: the 200s' p99 was 0.15–0.45 of the unlimited one)
    assert polite["p99_ok_ms"] < unlimited["p99_ok_ms"] * 0.75
    assert polite["p99_ms"] < unlimited["p99_ms"]


def test_json_logs_carry_the_request_id_and_mask_secrets(workdir: Path, stopping: list[LiveServer]) -> None:
    server = _serve(workdir, KEYTURN_LOG_FORMAT="json")
    stopping.append(server)
    client_id, secret = _credential(server)
    ok = httpx.post(f"{server.url}/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret),
                    headers={"X-Request-Id": "front-ok-1"})
    assert ok.status_code == 200 and ok.headers["x-request-id"] == "front-ok-1"
    access_token = ok.json()["access_token"]
    # a refused request Keyturn logs (keyturn.errors) besides its access line; the token it carries is masked
    bad = httpx.post(f"{server.url}/token", data={"grant_type": "refresh_token", "refresh_token": "ktrt_" + "x" * 43},
                     auth=(client_id, secret), headers={"X-Request-Id": "front-bad-1"})
    assert bad.status_code == 400
    odd = httpx.get(f"{server.url}/health", headers={"X-Request-Id": "no spaces allowed"})
    assert odd.headers["x-request-id"] != "no spaces allowed"
    time.sleep(0.6)  # the access log is flushed at most 0.25 s late
    server.stop()
    assert server.proc.returncode == 0
    text = server.log()
    lines = [line for line in text.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line the process wrote is one JSON object
    assert {"uvicorn.error", "keyturn.access"} <= {r["logger"] for r in records}
    for r in records:
        assert {"time", "level", "logger", "message", "request_id"} <= set(r)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["request_id"]:
            by_id.setdefault(r["request_id"], []).append(r)
    assert {r["logger"] for r in by_id["front-bad-1"]} >= {"keyturn.access", "keyturn.errors"}
    assert [r["status"] for r in by_id["front-ok-1"]] == [200]
    assert {"path", "status", "duration_ms", "method", "peer"} <= set(by_id["front-ok-1"][0])
    assert secret not in text and access_token not in text and "ktrt_xxxx" not in text
    print("\n[logs] " + "\n[logs] ".join(lines[-6:]))


def _connect_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.timing
def test_sigterm_finishes_requests_in_flight_then_exits_0(workdir: Path, stopping: list[LiveServer]) -> None:
    server = _serve(workdir, KEYTURN_SHUTDOWN_TIMEOUT="10")
    stopping.append(server)
    client_id, secret = _credential(server, refresh="1d")  # each answer carries a refresh token: a write
    port = int(server.url.rsplit(":", 1)[1])
    body = b"grant_type=client_credentials"
    request = _token_request(f"127.0.0.1:{port}", client_id, secret, body)
    head, rest = request[:-len(body)], body

    async def scenario() -> tuple[list[tuple[int, dict[str, str], bytes]], bool, float]:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(16)]
        for _, writer in conns:  # 16 requests in flight: headers and half the body sent
            writer.write(head + rest[:8])
            await writer.drain()
        await asyncio.sleep(0.3)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.6)  # uvicorn checks for the signal every 0.1 s, then closes its socket
        refused = _connect_refused(port)
        for _, writer in conns:
            writer.write(rest[8:])
            await writer.drain()
        answers = [await _read_response(reader) for reader, _ in conns]
        for _, writer in conns:
            writer.close()
        await asyncio.to_thread(server.proc.wait, 15)
        return answers, refused, time.monotonic() - started

    answers, refused, seconds = asyncio.run(scenario())
    statuses = [status for status, _, _ in answers]
    print(f"\n[shutdown] 16 in flight at SIGTERM: {statuses.count(200)} answered 200, new connection refused: "
          f"{refused}, exit {server.proc.returncode} {seconds:.2f} s after SIGTERM (bound 10 s)")
    assert statuses == [200] * 16
    assert refused
    assert server.proc.returncode == 0
    assert seconds < 10
    assert "Shutting down" in server.log()
    # what the 16 answers carry was committed before they were sent: every refresh token works on a new process
    again = _serve(workdir)
    stopping.append(again)
    for _, _, body in answers:
        refreshed = httpx.post(f"{again.url}/token", auth=(client_id, secret), timeout=10,
                               data={"grant_type": "refresh_token", "refresh_token": json.loads(body)["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text


@pytest.mark.timing
def test_sigterm_cancels_what_outlives_the_bound(workdir: Path, stopping: list[LiveServer]) -> None:
    server = _serve(workdir, KEYTURN_SHUTDOWN_TIMEOUT="1")
    stopping.append(server)
    port = int(server.url.rsplit(":", 1)[1])

    async def scenario() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_token_request(f"127.0.0.1:{port}", "x", "y", b"grant_type=client_credentials")[:-4])
        await writer.drain()  # a body that never completes
        await asyncio.sleep(0.3)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.proc.wait, 15)
        writer.close()
        return time.monotonic() - started

    seconds = asyncio.run(scenario())
    print(f"\n[shutdown] a request that never completes: exit {server.proc.returncode} after {seconds:.2f} s "
          "(bound 1 s)")
    assert server.proc.returncode == 0
    assert seconds < 3
