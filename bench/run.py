"""Keyturn's benchmark against node-oidc-provider: `python bench/run.py` (`make bench`).

Starts Keyturn (`keyturn serve`, production settings) on SQLite and on PostgreSQL and the peer
(node-oidc-provider: JWT ES256, opaque, and JWT ES256 with refresh-token rotation), provisions
them, loads each scenario with wrk on 127.0.0.1 at 16 and 64 connections, and writes
bench/results/<stamp>-<mode>.{md,jsonl}, with the targets of issue 11 met or not.

Method: every server pinned to CPU 0, wrk (one thread) to CPU 1; a discarded warm-up per cell,
then bounded passes interleaved across all servers so that drift hits everyone alike; medians.
Then the latency of sequential requests on an idle server (cc_basic, cc_refresh, refresh),
`keyturn serve --workers 2` vs 1 worker with nothing pinned, and an RSS soak of scenario 1.

  python bench/run.py                  # full: 2 passes x 5 s, 5-minute soak, about 20 minutes
  python bench/run.py --quick          # smoke: 1 pass x 5 s, 20-second soak, about 8 minutes
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import keyturn as kt  # noqa: E402
from harness import peer, report  # noqa: E402
from harness.idle import IDLE_MAX_SECONDS, idle_latency  # noqa: E402
from harness.load import Request, run_wrk  # noqa: E402
from harness.render import render  # noqa: E402
from harness.scenarios import REFERENCES, TITLES, for_keyturn, for_peer, for_peer_refresh, try_request  # noqa: E402
from harness.servers import Server, ServerFailed, free_port, start_server  # noqa: E402
from harness.system import ensure_tools, machine_info  # noqa: E402

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
SERVER_CPUS, WRK_CPUS = "0", "1"
MAIN_TARGETS = ["kt-sqlite", "kt-pg", "peer-jwt", "peer-opaque", "peer-refresh"]
IDLE_SCENARIOS = ("cc_basic", "cc_refresh", "refresh")  # issue 11: a batch of one adds no latency
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:5.0f}s] {msg}", flush=True)


@dataclass
class Cell:
    phase: str
    target: str
    scenario: str
    conns: int
    server: Server
    request: Request
    wrk_cpus: str | None
    db: bool


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.conns = [int(c) for c in args.conns.split(",")]
        self.servers: dict[str, Server] = {}
        self.requests: dict[str, dict[str, Request]] = {}
        self.runs: list[dict[str, Any]] = []
        self.skips: list[dict[str, str]] = []
        self.notes: dict[str, dict[str, str]] = {}
        self.memory: dict[str, Any] = {}
        self.idle: list[dict[str, Any]] = []
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.out: Path = args.results_dir / f"{stamp}-{'quick' if args.quick else 'full'}"
        self.jsonl = report.Jsonl(self.out.with_suffix(".jsonl"))
        self.kt_cmd = kt.keyturn_command(args.keyturn)
        self.peer_dir: Path | None = None
        self.db_urls: dict[str, str] = {}
        self.machine: dict[str, object] = {}

    # --- setup ------------------------------------------------------------------------------------
    def skip(self, target: str, scenario: str, reason: str) -> None:
        self.skips.append({"target": target, "scenario": scenario, "reason": reason})
        self.jsonl.write("skip", target=target, scenario=scenario, reason=reason)
        log(f"SKIP {target} {scenario}: {reason[:300]}")

    def wanted(self, target: str) -> set[str]:
        """The scenarios asked for, and on a peer those they are compared with (REFERENCES)."""
        wanted = set(self.args.scenarios)
        if target.startswith("peer"):
            wanted |= {REFERENCES[s] for s in self.args.scenarios if s in REFERENCES}
        return wanted

    def adopt(self, target: str, built: dict[str, Request | str]) -> None:
        self.requests[target] = {}
        wanted = self.wanted(target)
        for scenario, req in built.items():
            if scenario not in wanted:
                continue
            if isinstance(req, str):
                self.skip(target, scenario, req)
            else:
                self.requests[target][scenario] = req

    def build(self, target: str, scenarios: Callable[[], dict[str, Request | str]]) -> None:
        """Check the target's scenarios and keep those that pass; an unforeseen failure skips them all."""
        try:
            built = scenarios()
        except Exception as exc:  # noqa: BLE001 - a harness bug must not hide the other servers' figures
            self.skip(target, "*", f"checking the scenarios failed: {type(exc).__name__}: {exc}")
            return
        self.adopt(target, built)

    def start_peer(self) -> None:
        peers = [("peer-jwt", "jwt", False), ("peer-opaque", "opaque", False)]
        if "refresh" in self.args.scenarios:  # its own process: REFRESH=1 changes the store and the client
            peers.append(("peer-refresh", "jwt", True))
        try:
            source = peer.find_source(kt.REPO)
            dest = peer.install(source, BENCH / ".peer" / "oidc-provider", log)
        except (OSError, RuntimeError) as exc:
            for target, _, _ in peers:
                self.skip(target, "*", f"peer install failed: {exc}")
            return
        self.peer_dir = dest
        for target, fmt, refresh in peers:
            try:
                server = peer.start(dest, target, free_port(), fmt, WORK / "logs", SERVER_CPUS, refresh)
            except ServerFailed as exc:
                self.skip(target, "*", str(exc))
                continue
            self.servers[target] = server
            self.notes[target] = {
                "command": f"{'REFRESH=1 ' if refresh else ''}AT_FORMAT={fmt} AT_ALG=ES256 NODE_ENV=production "
                f"{server.notes['command']}"
            }
            if refresh:
                self.build(target, partial(for_peer_refresh, server, WORK, self.notes[target]))
            else:
                self.build(target, partial(for_peer, server, fmt == "opaque", self.notes[target]))

    def keyturn_argv(self, port: int, workers: int) -> list[str]:
        return [*self.kt_cmd, "serve", "--host", "127.0.0.1", "--port", str(port)] + (
            ["--workers", str(workers)] if workers > 1 else []
        )

    def start_keyturn(
        self, target: str, db_url: str, cpus: str | None, workers: int = 1, home: str = "", port: int = 0
    ) -> Server | None:
        """Serve db_url; `home` (default: target) names the working directory under .work/."""
        port = port or free_port()
        env = kt.keyturn_env(db_url, port)
        cwd = WORK / (home or target)
        cwd.mkdir(parents=True, exist_ok=True)
        try:
            server = start_server(
                target,
                self.keyturn_argv(port, workers),
                env=env,
                cwd=cwd,
                log_path=WORK / "logs" / f"{target}.log",
                port=port,
                ready_path="/health",
                cpus=cpus,
                workers=workers,
            )
        except ServerFailed as exc:
            self.skip(target, "*", str(exc))
            return None
        self.servers[target] = server
        self.notes[target] = {
            "command": f"KEYTURN_DATABASE_URL={db_url} KEYTURN_ENVIRONMENT=development "
            f"KEYTURN_LOG_LEVEL=info {server.notes['command']}"
        }
        return server

    def setup_keyturn(self, target: str, reset: Callable[[], str]) -> None:
        port = free_port()  # before provisioning, so the CLI sees the issuer the server will have
        try:
            db_url = reset()
            env = kt.keyturn_env(db_url, port)
            (WORK / target).mkdir(parents=True, exist_ok=True)
            log(f"{target}: migrate and provision ({db_url})")
            got = kt.provision(self.kt_cmd, env, WORK / target)
        except (kt.StepFailed, OSError, ValueError) as exc:
            self.skip(target, "*", f"provisioning failed: {exc}")
            return
        self.db_urls[target] = db_url
        server = self.start_keyturn(target, db_url, SERVER_CPUS, port=port)
        if server:
            self.build(target, partial(for_keyturn, server, got, WORK, self.notes[target]))

    # --- measuring -------------------------------------------------------------------------------
    def cells(
        self, phase: str, targets: list[str], wrk_cpus: str | None, scenarios: list[str] | None = None
    ) -> list[Cell]:
        out = []
        for scenario in scenarios or list(TITLES):
            for target in targets:
                req = self.requests.get(target, {}).get(scenario)
                if req is not None and target in self.servers:
                    out += [
                        Cell(
                            phase,
                            target,
                            scenario,
                            c,
                            self.servers[target],
                            req,
                            wrk_cpus,
                            db=target == "kt-pg",
                        )
                        for c in self.conns
                    ]
        return out

    def left(self) -> float:
        """Seconds left in the time budget."""
        return float(self.args.budget_seconds - (time.monotonic() - T0))

    def measure(self, cells: list[Cell]) -> None:
        a = self.args
        for p in range(a.passes):
            for cell in cells if p % 2 == 0 else cells[::-1]:
                name = f"{cell.phase}.{cell.target}.{cell.scenario}.c{cell.conns}"
                if self.left() < 60 + a.duration:
                    self.skip(cell.target, cell.scenario, f"c{cell.conns} pass {p + 1}: out of the time budget")
                    continue
                if not cell.server.alive():
                    self.skip(cell.target, cell.scenario, f"server died: {cell.server.log_tail(10)}")
                    continue
                try:
                    if p == 0 and a.warmup > 0:
                        run_wrk(
                            cell.server,
                            cell.request,
                            conns=cell.conns,
                            seconds=a.warmup,
                            label="warmup",
                            wrk_cpus=cell.wrk_cpus,
                            out_dir=WORK / "wrk",
                        )
                    res = run_wrk(
                        cell.server,
                        cell.request,
                        conns=cell.conns,
                        seconds=a.duration,
                        label=f"{name}.p{p + 1}",
                        wrk_cpus=cell.wrk_cpus,
                        out_dir=WORK / "wrk",
                        db=cell.db,
                    )
                except Exception as exc:  # noqa: BLE001 - one failed run must not end the benchmark
                    self.skip(cell.target, cell.scenario, f"c{cell.conns} pass {p + 1}: {exc}")
                    continue
                run = {
                    "phase": cell.phase,
                    "target": cell.target,
                    "scenario": cell.scenario,
                    "conns": cell.conns,
                    "pass": p + 1,
                    "server_pinned": cell.server.cpus,
                    "wrk_pinned": cell.wrk_cpus,
                    **res,
                }
                if not cell.db:
                    run["db_cpu_pct"] = None
                self.runs.append(run)
                self.jsonl.write("run", **run)
                log(
                    f"pass {p + 1}/{a.passes} {cell.target:<13} {cell.scenario:<10} c{cell.conns:<3} "
                    f"{res['rps']:>8,.0f} req/s  p50 {res['p50_ms']:6.2f}  p99 {res['p99_ms']:7.2f} ms  "
                    f"err {res['errors']}  server {res['server_cpu_pct']}%  wrk {res['wrk_cpu_pct']}%"
                )

    def idle_phase(self) -> None:
        """Median and p99 of sequential requests on one keep-alive connection, nothing else loading
        the server (each in turn, all others idle): what a lone client waits for."""
        n = self.args.idle_requests
        for scenario in IDLE_SCENARIOS:
            for target in MAIN_TARGETS:
                server, req = self.servers.get(target), self.requests.get(target, {}).get(scenario)
                if server is None or req is None:
                    continue
                if not server.alive():
                    self.skip(target, f"idle {scenario}", f"server died: {server.log_tail(10)}")
                    continue
                if self.left() < 60 + IDLE_MAX_SECONDS:
                    self.skip(target, f"idle {scenario}", f"out of the time budget ({self.left():.0f} s left)")
                    continue
                try:
                    res = idle_latency(server, req, requests=n, cpus=WRK_CPUS)
                except Exception as exc:  # noqa: BLE001 - one failed loop must not end the benchmark
                    self.skip(target, f"idle {scenario}", f"{type(exc).__name__}: {exc}")
                    continue
                row = {"target": target, "scenario": scenario, **res}
                self.idle.append(row)
                self.jsonl.write("idle", **row)
                log(
                    f"idle {target:<13} {scenario:<10} {res['requests']} requests  "
                    f"p50 {res.get('p50_ms', 0):6.2f}  p99 {res.get('p99_ms', 0):6.2f} ms  err {res['errors']}"
                )

    def workers_phase(self) -> None:
        """Scenario 1 on SQLite with 1 and 2 workers; nothing pinned, so both cores are shared."""
        if "kt-sqlite" not in self.requests or "cc_basic" not in self.requests["kt-sqlite"]:
            self.skip("kt-sqlite-2w", "cc_basic", "scenario 1 on SQLite is not available")
            return
        if self.left() < 180:
            self.skip("kt-sqlite-2w", "cc_basic", f"out of the time budget ({self.left():.0f} s left)")
            return
        for target, workers in (("kt-sqlite-1w", 1), ("kt-sqlite-2w", 2)):
            log(f"{target}: keyturn serve --workers {workers}, nothing pinned")
            server = self.start_keyturn(target, self.db_urls["kt-sqlite"], None, workers, home="kt-sqlite")
            if server is None:
                continue
            built: dict[str, Request | str] = {}
            try_request(built, "cc_basic", server, self.requests["kt-sqlite"]["cc_basic"], "access_token")
            self.adopt(target, built)
            self.measure(self.cells("workers", [target], None, ["cc_basic"]))
            self.memory[target] = server.rss()
            server.stop()

    def soak(self) -> None:
        server, req = self.servers.get("kt-sqlite"), self.requests.get("kt-sqlite", {}).get("cc_basic")
        if server is None or req is None or not server.alive():
            self.skip("kt-sqlite", "soak", "scenario 1 on SQLite is not available")
            return
        seconds = self.args.soak_seconds
        left = self.left() - 30
        if left < 10:
            self.skip("kt-sqlite", "soak", f"out of the time budget ({self.left():.0f} s left)")
            return
        if seconds > left:
            self.memory["soak_note"] = (
                f"soak shortened from {seconds} s to {int(left)} s "
                f"to stay within the {self.args.budget_seconds} s budget"
            )
            log(self.memory["soak_note"])
            seconds = int(left)
        conns = max(self.conns)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not stop.is_set():
                samples.append((round(time.monotonic() - t0, 1), float(server.rss()["rss_mib"])))
                stop.wait(max(1.0, seconds / 60))

        before = server.rss()
        log(f"soak: scenario 1 on kt-sqlite, c{conns}, {seconds} s, RSS {before['rss_mib']} MiB at start")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            res = run_wrk(
                server,
                req,
                conns=conns,
                seconds=seconds,
                label="soak",
                wrk_cpus=WRK_CPUS,
                out_dir=WORK / "wrk",
            )
        except Exception as exc:  # noqa: BLE001
            res = {"error": str(exc)}
        stop.set()
        sampler.join()
        after = server.rss()
        rss = [s[1] for s in samples] + [float(after["rss_mib"])]
        self.memory["soak"] = {
            "seconds": seconds,
            "conns": conns,
            "result": res,
            "rss_start_mib": before["rss_mib"],
            "rss_end_mib": after["rss_mib"],
            "rss_min_mib": min(rss),
            "rss_max_mib": max(rss),
            "growth_mib": round(float(after["rss_mib"]) - float(before["rss_mib"]), 1),
            "peak_rss_mib": after["peak_rss_mib"],
            "samples": samples,
        }
        self.jsonl.write("soak", **self.memory["soak"])
        log(
            f"soak: {res.get('rps', 0):,.0f} req/s, RSS {before['rss_mib']} -> {after['rss_mib']} MiB "
            f"(peak {after['peak_rss_mib']} MiB)"
        )

    # --- the whole run ---------------------------------------------------------------------------
    def run(self) -> Path:
        a = self.args
        needed = {"wrk": "wrk", "taskset": "util-linux"}
        if not a.no_peer:
            needed.update({"node": "nodejs", "npm": "npm"})
        if not a.no_postgres:
            needed["psql"] = "postgresql-client"
        ensure_tools(needed, log)
        try:
            if not a.no_peer:
                self.start_peer()
            self.setup_keyturn("kt-sqlite", lambda: kt.reset_sqlite(WORK / "kt-sqlite" / "keyturn-bench.db"))
            if not a.no_postgres:
                self.setup_keyturn("kt-pg", lambda: kt.reset_postgres(a.pg_database))
            self.machine = machine_info(kt.keyturn_python(self.kt_cmd), self.peer_dir)
            self.jsonl.write(
                "machine",
                **self.machine,
                command=a.command,
                settings={k: str(v) for k, v in vars(a).items()},
            )
            main = self.cells("main", MAIN_TARGETS, WRK_CPUS)
            per_run = a.passes * (a.duration + 1) + a.warmup + 1
            idle = sum(1 for t in MAIN_TARGETS for s in IDLE_SCENARIOS if s in self.requests.get(t, {})) * (
                3 if a.idle_requests else 0
            )
            estimate = len(main) * per_run + 2 * len(self.conns) * per_run + 20 + idle + a.soak_seconds
            log(
                f"{len(main)} cells x {a.passes} pass(es) of {a.duration} s; about {estimate / 60:.0f} more "
                f"minutes (budget {a.budget_seconds / 60:.0f} min from start)"
            )
            self.measure(main)
            for target in ("kt-sqlite", "kt-pg"):
                if target in self.servers and self.servers[target].alive():
                    self.memory[target] = self.servers[target].rss()
                    self.jsonl.write("rss_after_main", target=target, **self.memory[target])
            if a.idle_requests > 0:
                self.idle_phase()
            if not a.no_workers:
                self.workers_phase()
            if a.soak_seconds > 0:
                self.soak()
        finally:
            for server in self.servers.values():
                server.stop()
        return self.write_report()

    def write_report(self) -> Path:
        rows = report.summarise(self.runs)
        for row in rows:
            self.jsonl.write("summary", **row)
        text = render(self, rows)
        path = self.out.with_suffix(".md")
        path.write_text(text)
        print("\n" + text)
        log(f"wrote {path} and {self.jsonl.path}")
        return path


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke mode: 5 s runs, 1 pass, 20 s soak")
    p.add_argument("--duration", type=float, help="seconds per measured run (default 5)")
    p.add_argument("--passes", type=int, help="measured passes per cell, medians reported (full 2, quick 1)")
    p.add_argument("--warmup", type=float, help="discarded warm-up seconds per cell (full 2, quick 1)")
    p.add_argument("--soak-seconds", type=int, help="RSS soak of scenario 1 (full 300, quick 20; 0 = none)")
    p.add_argument(
        "--budget-seconds",
        type=int,
        default=23 * 60,
        help="the soak is shortened so the whole run ends within this (default 1380)",
    )
    p.add_argument(
        "--idle-requests",
        type=int,
        default=200,
        help="sequential requests per target for the idle latency of cc_basic, cc_refresh, refresh (0 = none)",
    )
    p.add_argument("--conns", default="16,64", help="connection counts (default 16,64)")
    p.add_argument("--scenarios", default=",".join(TITLES), help=f"subset of {','.join(TITLES)}")
    p.add_argument("--keyturn", help="command that runs Keyturn's CLI (default: the venv's `keyturn`)")
    p.add_argument("--pg-database", default="keyturn_bench", help="database dropped and recreated each run")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-workers", action="store_true", help="skip the 1 vs 2 workers comparison")
    p.add_argument("--results-dir", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, smoke in (
        ("duration", 5.0, 5.0),
        ("passes", 2, 1),
        ("warmup", 2.0, 1.0),
        ("soak_seconds", 300, 20),
    ):
        if getattr(args, name) is None:
            setattr(args, name, smoke if quick else full)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(TITLES)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}")
    args.command = "python bench/run.py " + shlex.join(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    Bench(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
