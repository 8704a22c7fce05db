"""What the metrics cost: scenario 1 (client credentials, client_secret_basic: `cc_basic` of bench/run.py)
against two `keyturn serve` on one SQLite database, one with `KEYTURN_METRICS=true` (the default) and one
with `false`, loaded in turn with wrk. Issue 12's target: throughput with metrics within 5% of without.

  python bench/metrics_overhead.py                 # 8 rounds x 3 s per server, about 60 s
  python bench/metrics_overhead.py --rounds 2 --seconds 3

Method: both servers pinned to CPU 0 (only one is loaded at a time), wrk (one thread) to CPU 1; one
discarded warm-up per server, then rounds alternating which server goes first, so that drift in the
machine's other load hits both alike; medians. Besides requests per second it reports the server's CPU
time per request (from /proc), which other load on the machine disturbs less than throughput, and
the in-process cost of the metric updates one such request makes (the counting layer, the tokens-issued
counter, the client-cache lookup), timed over 50,000 rounds: a figure no other load can blur.
Bounded: the whole run stays under a minute with the defaults (--seconds x 2 x (rounds + 1) of load).
"""

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="measured runs per server (default 8)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--conns", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--control", action="store_true",
                        help="A/A run: both servers without metrics, to see the noise floor of this machine")
    parser.add_argument("--off-first", action="store_true", help="start the server without metrics first")
    parser.add_argument("--keyturn", default=None, help="command that runs keyturn (default: beside python)")
    args = parser.parse_args()
    if (args.rounds + 1) * 2 * args.seconds > 60:
        parser.error("bounded to 60 s of load: lower --rounds or --seconds")
    micro = metric_updates_us()
    kt_cmd = kt.keyturn_command(args.keyturn)
    WORK.mkdir(parents=True, exist_ok=True)
    db_url = kt.reset_sqlite(WORK / "bench.db")
    got = kt.provision(kt_cmd, kt.keyturn_env(db_url, 8000), WORK)
    auth = basic(got.client_id, got.client_secret)
    request = Request("POST", "/token", {"Content-Type": FORM, "Authorization": auth}, "grant_type=client_credentials")
    # which server starts first (and so is older, and first in each round's order) is a choice: --off-first swaps it
    first = (False, True) if args.off_first else (True, False)
    servers = {on: serve(kt_cmd, db_url, on, args.control) for on in first}
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    try:
        for on, server in servers.items():  # warm-up, discarded
            run_wrk(server, request, conns=args.conns, seconds=args.seconds, label=f"warm-{on}",
                    wrk_cpus=WRK_CPUS, out_dir=WORK)
        for r in range(args.rounds):
            for on in ((True, False) if r % 2 == 0 else (False, True)):
                result = run_wrk(servers[on], request, conns=args.conns, seconds=args.seconds,
                                 label=f"r{r}-{'on' if on else 'off'}", wrk_cpus=WRK_CPUS, out_dir=WORK)
                if result["errors"]:
                    raise SystemExit(f"{result['errors']} failed requests with metrics {'on' if on else 'off'}")
                runs[on].append(result)
        _, scraped = http_call(servers[True].port, "GET", "/metrics")
    finally:
        for server in servers.values():
            server.stop()

    def median(on: bool, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[on])

    rps_on, rps_off = median(True, "rps"), median(False, "rps")
    cpu_on, cpu_off = median(True, "server_cpu_ms_per_req"), median(False, "server_cpu_ms_per_req")
    summary = {
        "control_run_both_off": args.control, "off_first": args.off_first,
        "scenario": "cc_basic (1, client credentials, client_secret_basic), SQLite, 1 worker",
        "conns": args.conns, "seconds": args.seconds, "rounds": args.rounds,
        "rps_metrics_on": round(rps_on), "rps_metrics_off": round(rps_off),
        "throughput_cost_pct": round(100 * (rps_off - rps_on) / rps_off, 1),
        "cpu_ms_per_req_on": cpu_on, "cpu_ms_per_req_off": cpu_off,
        "cpu_cost_pct": round(100 * (cpu_on - cpu_off) / cpu_off, 1),
        "p99_ms_on": median(True, "p99_ms") if "p99_ms" in runs[True][0] else None,
        "p99_ms_off": median(False, "p99_ms") if "p99_ms" in runs[False][0] else None,
        "other_cpu_pct_median": statistics.median(float(r["other_cpu_pct"]) for rs in runs.values() for r in rs),
        "metric_updates_us_per_req": round(micro, 2),
        "metric_updates_pct_of_cpu_per_req_off": round(100 * micro / (1000 * cpu_off), 1),
        "scrape_counted_token_200s": next((line for line in scraped.splitlines() if line.startswith(
            'keyturn_http_requests_total{method="POST",route="/token",status="200"}')), None),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
