"""What the metrics cost: scenario 1 (client credentials, client_secret_basic: `cc_basic` of bench/run.py)
against `keyturn serve` on one SQLite database with `KEYTURN_METRICS=true` (the default) and with
`false`, loaded in turn with wrk. Issue 12's target: throughput with metrics within 5% of without.

  python bench/metrics_overhead.py                 # 4 servers x 4 rounds x 3 s, about 60 s
  python bench/metrics_overhead.py --control       # A/A: all four without metrics (the noise floor)
  python bench/metrics_overhead.py --rounds 2 --seconds 3

Method: four servers, started with metrics on, off, off, on (ABBA: the order servers start and run in
moved throughput by 10-30% by itself on a shared machine), all pinned to CPU 0 (one loaded at a time),
wrk (one thread) to CPU 1; a discarded 1 s warm-up each, then rounds that each start one server later, so
drift in the machine's other load hits both settings alike; medians per setting. Besides requests per
second (medians, and the best run of each setting: other load only ever slows a run down) it reports the
server's CPU time per request (from /proc), which other load on the machine disturbs less than
throughput, and the in-process cost of the metric updates one such request makes (the counting layer, the
tokens-issued counter, the client-cache lookup), timed over 50,000 rounds, and token requests through one
in-process front with and without the counting layer, interleaved (one process: no start-order bias).
Bounded: at most 60 s of load (4 x (1 + rounds x seconds)), refused otherwise."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import keyturn as kt  # noqa: E402
from harness.load import Request, run_wrk  # noqa: E402
from harness.servers import FORM, Server, basic, free_port, http_call, start_server  # noqa: E402

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "metrics-overhead"
SERVER_CPUS, WRK_CPUS = "0", "1"
WARM_SECONDS = 1.0


def serve(kt_cmd: list[str], db_url: str, metrics: bool, control: bool) -> Server:
    port = free_port()
    env = kt.keyturn_env(db_url, port)
    env["KEYTURN_METRICS"] = "true" if metrics and not control else "false"
    name = f"metrics-{'on' if metrics else 'off'}"
    return start_server(name, [*kt_cmd, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=WORK,
                        log_path=WORK / f"{name}.log", port=port, ready_path="/health", cpus=SERVER_CPUS)


def metric_updates_us(rounds: int = 50_000) -> float:
    """CPU microseconds of the metric updates of one cc_basic request, in this process (keyturn importable)."""
    import asyncio

    from keyturn import metrics
    from keyturn.web.routes import ROUTES
    from keyturn.web.routing import ROUTE_KEY
    from keyturn.web.server.metrics import RequestMetrics

    token_route = next(r for r in ROUTES if r.path == "/token")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope[ROUTE_KEY] = token_route
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {}

    hit = metrics.CACHE_LOOKUPS.labels("clients", "hit")

    async def timed(layer: Any, updates: bool) -> float:
        started = time.process_time()
        for _ in range(rounds):
            await layer({"type": "http", "method": "POST", "path": "/token"}, receive, send)
            if updates:
                metrics.TOKENS_ISSUED.labels("client_credentials").inc()
                hit.inc()
        return (time.process_time() - started) / rounds * 1e6

    async def both() -> float:
        await timed(app, False)  # warm
        costs = [await timed(RequestMetrics(app), True) - await timed(app, False) for _ in range(3)]
        return min(costs)

    return asyncio.run(both())


def front_cost_pct(rounds: int = 16, requests: int = 200) -> dict[str, float]:
    """Token requests (cc_basic) through the same front in one process, on one database, with the counting
    layer and without it (its inner layer), interleaved: no second process, so no start-order bias. CPU
    microseconds per request (httpx's in-process transport included, alike for both)."""
    import asyncio
    import tempfile

    import httpx

    from keyturn.core.models import Principal
    from keyturn.services import credentials as credentials_service
    from keyturn.services.context import build_services
    from keyturn.services.users import create_user
    from keyturn.settings import Settings
    from keyturn.web.app import create_app, front
    from keyturn.web.server.metrics import RequestMetrics

    async def go() -> dict[str, float]:
        directory = tempfile.mkdtemp(prefix="keyturn-metrics-bench-")
        settings = Settings(environment="development", issuer="http://bench.test", access_log=False,
                            database_url=f"sqlite+aiosqlite:///{directory}/k.db", allowed_scopes=("a",))
        ctx = build_services(settings)
        app = create_app(ctx, run_migrations=True)
        async with app.router.lifespan_context(app):
            user, _ = await create_user(ctx, email="bench@example.test", phone_number=None,
                                        password="correct horse battery")
            issued = await credentials_service.create(ctx, Principal(kind="user", id=user.id),
                                                      {"name": "bench", "scope": "a", "refresh": "none"})
            with_layer = front(app, settings)
            assert isinstance(with_layer.app, RequestMetrics)  # inside the request id (access log off)
            layers = {True: with_layer, False: front(app, settings.model_copy(update={"metrics": False}))}
            auth = (issued.record.client_id, str(issued.secret))

            async def timed(on: bool) -> float:
                transport = httpx.ASGITransport(app=layers[on], client=("127.0.0.1", 1))
                async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as c:
                    started = time.process_time()
                    for _ in range(requests):
                        r = await c.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                        assert r.status_code == 200
                    return (time.process_time() - started) / requests * 1e6

            await timed(True)
            await timed(False)
            spent: dict[bool, list[float]] = {True: [], False: []}
            for r in range(rounds):
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    spent[on].append(await timed(on))
        # the least disturbed round of each: other load only ever adds CPU time (cache misses, a shared core)
        on_us, off_us = min(spent[True]), min(spent[False])
        return {"us_per_req_on": round(on_us, 1), "us_per_req_off": round(off_us, 1),
                "cost_pct": round(100 * (on_us - off_us) / off_us, 1),
                "median_cost_pct": round(100 * (statistics.median(spent[True]) - statistics.median(spent[False]))
                                         / statistics.median(spent[False]), 1)}

    return asyncio.run(go())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="measured runs per server (default 4)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--conns", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--control", action="store_true",
                        help="A/A run: both servers without metrics, to see the noise floor of this machine")
    parser.add_argument("--keyturn", default=None, help="command that runs keyturn (default: beside python)")
    args = parser.parse_args()
    if 4 * (WARM_SECONDS + args.rounds * args.seconds) > 60:
        parser.error("bounded to 60 s of load: lower --rounds or --seconds")
    micro = metric_updates_us()
    same_process = front_cost_pct()
    kt_cmd = kt.keyturn_command(args.keyturn)
    WORK.mkdir(parents=True, exist_ok=True)
    db_url = kt.reset_sqlite(WORK / "bench.db")
    got = kt.provision(kt_cmd, kt.keyturn_env(db_url, 8000), WORK)
    auth = basic(got.client_id, got.client_secret)
    request = Request("POST", "/token", {"Content-Type": FORM, "Authorization": auth}, "grant_type=client_credentials")
    # Four servers, started on, off, off, on (ABBA): on this machine the order servers start in and run in
    # changed throughput by 10-30% on its own (an A/A run with --control shows it), and ABBA cancels it.
    servers = [(on, serve(kt_cmd, db_url, on, args.control)) for on in (True, False, False, True)]
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    try:
        for i, (_, server) in enumerate(servers):  # warm-up, discarded
            run_wrk(server, request, conns=args.conns, seconds=WARM_SECONDS, label=f"warm-{i}",
                    wrk_cpus=WRK_CPUS, out_dir=WORK)
        for r in range(args.rounds):
            for k in range(len(servers)):  # each round starts one server later
                on, server = servers[(r + k) % len(servers)]
                result = run_wrk(server, request, conns=args.conns, seconds=args.seconds,
                                 label=f"r{r}-{k}-{'on' if on else 'off'}", wrk_cpus=WRK_CPUS, out_dir=WORK)
                if result["errors"]:
                    raise SystemExit(f"{result['errors']} failed requests with metrics {'on' if on else 'off'}")
                runs[on].append(result)
        _, scraped = http_call(servers[0][1].port, "GET", "/metrics")
    finally:
        for _, server in servers:
            server.stop()

    def median(on: bool, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[on])

    best_rps = {on: max(float(r["rps"]) for r in runs[on]) for on in runs}  # the least disturbed run
    best_cpu = {on: min(float(r["server_cpu_ms_per_req"]) for r in runs[on]) for on in runs}
    rps_on, rps_off = median(True, "rps"), median(False, "rps")
    cpu_on, cpu_off = median(True, "server_cpu_ms_per_req"), median(False, "server_cpu_ms_per_req")
    summary = {
        "control_run_both_off": args.control,
        "scenario": "cc_basic (1, client credentials, client_secret_basic), SQLite, 1 worker",
        "conns": args.conns, "seconds": args.seconds, "rounds": args.rounds,
        "rps_metrics_on": round(rps_on), "rps_metrics_off": round(rps_off),
        "throughput_cost_pct": round(100 * (rps_off - rps_on) / rps_off, 1),
        "cpu_ms_per_req_on": cpu_on, "cpu_ms_per_req_off": cpu_off,
        "cpu_cost_pct": round(100 * (cpu_on - cpu_off) / cpu_off, 1),
        "best_rps_on": round(best_rps[True]), "best_rps_off": round(best_rps[False]),
        "best_throughput_cost_pct": round(100 * (best_rps[False] - best_rps[True]) / best_rps[False], 1),
        "best_cpu_cost_pct": round(100 * (best_cpu[True] - best_cpu[False]) / best_cpu[False], 1),
        "p99_ms_on": median(True, "p99_ms") if "p99_ms" in runs[True][0] else None,
        "p99_ms_off": median(False, "p99_ms") if "p99_ms" in runs[False][0] else None,
        "other_cpu_pct_median": statistics.median(float(r["other_cpu_pct"]) for rs in runs.values() for r in rs),
        "metric_updates_us_per_req": round(micro, 2),
        "metric_updates_pct_of_cpu_per_req_off": round(100 * micro / (1000 * cpu_off), 1),
        "same_process_front_with_and_without_layer": same_process,
        "scrape_counted_token_200s": next((line for line in scraped.splitlines() if line.startswith(
            'keyturn_http_requests_total{method="POST",route="/token",status="200"}')), None),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
