"""What DPoP (RFC 9449) costs, against plain Bearer (issue 14):

1. ``keyturn.rs`` in process, one core: access-token verifications per second, a Bearer token vs a DPoP-bound
   token with its proof (each proof a fresh ``jti``, pre-signed, so only the verifier's work is timed: one more
   signature verification, a thumbprint, ``ath``, the in-process replay cache).
2. ``keyturn serve`` (1 worker, SQLite, pinned to CPU 0) loaded from CPU 1 by a small asyncio HTTP/1.1 client
   (keep-alive, ``--connections`` connections): ``POST /token`` client credentials with and without a DPoP proof,
   and ``GET /api/account-memberships`` with a Bearer token vs a DPoP-bound token and a proof per request. The
   proofs are signed before the run (distinct ``jti``, ``iat`` within the server's window), since a wrk Lua script
   cannot sign per request. Per scenario: req/s, p50/p99 latency, server CPU per request (from /proc).

    PYTHONPATH=src .venv/bin/python bench/dpop_cost.py            # ~50 s of load in all
    PYTHONPATH=src .venv/bin/python bench/dpop_cost.py --seconds 5 --connections 16
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.harness.keyturn import keyturn_env, provision, reset_sqlite  # noqa: E402
from bench.harness.servers import free_port, start_server  # noqa: E402
from bench.harness.system import cpu_ticks  # noqa: E402
from keyturn.core import jose  # noqa: E402
from keyturn.rs import JWKSCache, TokenVerifier  # noqa: E402
from tests.dpop_keys import DPoPKey  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


# -- 1. keyturn.rs in process ---------------------------------------------------------------------------------
async def rs_cost(seconds: float) -> dict[str, Any]:
    private = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(private, "ES256")
    key = jose.SigningKey(jwk["kid"], "ES256", private, jwk)
    issuer, api = "https://as.example", "https://api.example"
    url = api + "/payments"

    async def fetch(_: str) -> bytes:
        return json.dumps({"keys": [jwk]}).encode()

    verifier = TokenVerifier(issuer=issuer, audience=api, jwks=JWKSCache(issuer + "/jwks", fetch=fetch))
    holder = DPoPKey("ES256")
    now = int(time.time())
    claims = {"iss": issuer, "aud": api, "sub": "c", "client_id": "c", "iat": now, "exp": now + 3600}
    bearer = jose.sign(claims, key, typ="at+jwt")
    bound = jose.sign({**claims, "cnf": {"jkt": holder.jkt}}, key, typ="at+jwt")
    out: dict[str, Any] = {}
    for name in ("bearer", "dpop"):
        n_proofs = 40_000 if name == "dpop" else 0
        proofs = [holder.proof("GET", url, token=bound) for _ in range(n_proofs)]
        authorization = f"Bearer {bearer}" if name == "bearer" else f"DPoP {bound}"
        done, cpu0, wall0 = 0, time.process_time(), time.monotonic()
        while time.monotonic() - wall0 < seconds and (name == "bearer" or done < n_proofs):
            await verifier.verify_request(authorization, method="GET", url=url,
                                          dpop_proofs=[proofs[done]] if proofs else ())
            done += 1
        cpu = time.process_time() - cpu0
        out[name] = {"verifications": done, "cpu_s": round(cpu, 3), "per_core_per_s": round(done / cpu),
                     "us_each": round(cpu / done * 1e6, 1)}
    return out


# -- 2. the server ----------------------------------------------------------------------------------------------
class Load:
    """``connections`` keep-alive connections, each sending its requests one after another."""

    def __init__(self, port: int, requests: list[bytes], connections: int) -> None:
        self.port, self.requests, self.connections = port, requests, connections
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[int, int] = {}
        self._next = 0

    async def _one(self, deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while time.monotonic() < deadline and self._next < len(self.requests):
                req = self.requests[self._next]
                self._next += 1
                t0 = time.perf_counter()
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                self.latencies.append(time.perf_counter() - t0)
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status >= 400:
                    self.errors += 1
        finally:
            writer.close()

    async def run(self, seconds: float) -> float:
        deadline = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(*(self._one(deadline) for _ in range(self.connections)))
        return time.monotonic() - t0


def http(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def measure(server: Any, name: str, requests: list[bytes], seconds: float, connections: int
                  ) -> dict[str, Any]:
    warm = Load(server.port, requests[:200], connections)
    await warm.run(2)
    load = Load(server.port, requests[200:], connections)
    pids = server.pids()
    before = cpu_ticks(pids)
    wall = await load.run(seconds)
    after = cpu_ticks(pids)
    n = len(load.latencies)
    cpu_s = sum(after.get(p, 0) - before.get(p, 0) for p in pids) / TICK
    lat = sorted(load.latencies)
    return {"scenario": name, "requests": n, "req_per_s": round(n / wall), "errors": load.errors,
            "statuses": load.statuses, "p50_ms": round(statistics.median(lat) * 1e3, 2),
            "p99_ms": round(lat[min(n - 1, int(n * 0.99))] * 1e3, 2),
            "server_cpu_us_per_request": round(cpu_s / n * 1e6) if n else None}


async def server_cost(seconds: float, connections: int) -> list[dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="dpop-bench-"))
    port = free_port()
    env = keyturn_env(reset_sqlite(work / "keyturn.db"), port)
    env["PYTHONPATH"] = str(REPO / "src")
    env["KEYTURN_ACCESS_LOG"] = "false"
    kt = [sys.executable, "-c", "from keyturn.cli import main; main()"]
    got = provision(kt, env, work)
    server = start_server("keyturn", [*kt, "serve", "--port", str(port)], env=env, cwd=work,
                          log_path=work / "server.log", port=port, ready_path="/health", cpus="0")
    os.sched_setaffinity(0, {1})
    base = f"http://127.0.0.1:{port}"
    basic = "Basic " + base64.b64encode(f"{got.client_id}:{got.client_secret}".encode()).decode()
    form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
    body = b"grant_type=client_credentials"
    holder = DPoPKey("ES256")
    # enough requests for the run at a generous rate; every proof signed now (iat window: 60 s + leeway)
    n = int(seconds * 4000) + 400
    results = []
    try:
        token_plain = [http("POST", "/token", form, body)] * n
        results.append(await measure(server, "token: client credentials, Bearer", token_plain, seconds, connections))
        token_dpop = [http("POST", "/token", {**form, "DPoP": holder.proof("POST", base + "/token")}, body)
                      for _ in range(n)]
        results.append(await measure(server, "token: client credentials, DPoP proof", token_dpop, seconds,
                                     connections))
        plain_tok = json.loads(_post(port, "/token", form, body))["access_token"]
        dpop_tok = json.loads(_post(port, "/token", {**form, "DPoP": holder.proof("POST", base + "/token")},
                                    body))["access_token"]
        path = "/api/account-memberships"
        api_plain = [http("GET", path, {"Authorization": f"Bearer {plain_tok}"})] * n
        results.append(await measure(server, "resource: GET /api/account-memberships, Bearer", api_plain, seconds,
                                     connections))
        api_dpop = [http("GET", path, {"Authorization": f"DPoP {dpop_tok}",
                                       "DPoP": holder.proof("GET", base + path, token=dpop_tok)}) for _ in range(n)]
        results.append(await measure(server, "resource: GET /api/account-memberships, DPoP-bound + proof",
                                     api_dpop, seconds, connections))
    finally:
        server.stop()
    return results


def _post(port: int, path: str, headers: dict[str, str], body: bytes) -> str:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body, headers)
    answer = conn.getresponse().read().decode()
    conn.close()
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per server scenario (4 of them)")
    parser.add_argument("--rs-seconds", type=float, default=5.0, help="per keyturn.rs case (2 of them)")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    rs = asyncio.run(rs_cost(args.rs_seconds))
    print("keyturn.rs, one core:")
    for name, r in rs.items():
        print(f"  {name:7} {r['per_core_per_s']:>7} verifications/s/core  ({r['us_each']} µs each, "
              f"{r['verifications']} in {r['cpu_s']} s CPU)")
    print(f"  DPoP costs {rs['dpop']['us_each'] - rs['bearer']['us_each']:.1f} µs more per request "
          f"({rs['bearer']['per_core_per_s'] / rs['dpop']['per_core_per_s']:.2f}x)")
    rows = asyncio.run(server_cost(args.seconds, args.connections))
    print(f"keyturn serve, 1 worker on CPU 0, SQLite, {args.connections} connections, {args.seconds:.0f} s each:")
    for r in rows:
        print(f"  {r['scenario']:60} {r['req_per_s']:>6} req/s  p50 {r['p50_ms']:>6} ms  p99 {r['p99_ms']:>6} ms  "
              f"server CPU {r['server_cpu_us_per_request']} µs/req  errors {r['errors']} {r['statuses']}")
    print(json.dumps({"rs": rs, "server": rows}))


if __name__ == "__main__":
    main()
