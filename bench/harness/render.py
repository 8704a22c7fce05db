"""The markdown report of one benchmark run (printed, and written to bench/results/)."""

from __future__ import annotations

from typing import Any

from .idle import IDLE_WARMUP
from .report import Row, Target, main_table, ratio, ratio_table, rps_of, table, targets_table
from .scenarios import LABELS, TITLES

KEYTURNS = {"kt-sqlite": "Keyturn SQLite", "kt-pg": "Keyturn PostgreSQL"}
PEER_PAIRS = [
    ("1 client_secret_basic vs peer JWT ES256", "cc_basic", "peer-jwt", "cc_basic"),
    ("1 client_secret_basic vs peer opaque", "cc_basic", "peer-opaque", "cc_basic"),
    ("1r refresh 1d credential vs peer JWT ES256 (issues no refresh token)", "cc_refresh", "peer-jwt", "cc_basic"),
    ("2a client_secret_post vs peer JWT ES256 (basic)", "cc_post", "peer-jwt", "cc_basic"),
    ("2b JSON body vs peer JWT ES256 (basic)", "cc_json", "peer-jwt", "cc_basic"),
    ("3 introspection vs peer opaque introspection", "introspect", "peer-opaque", "introspect"),
    ("6b refresh rotation vs peer refresh rotation (REFRESH=1)", "refresh", "peer-refresh", "refresh"),
]
# Issue 11, at 16 and 64 connections on both databases (plus p99 ≤ the peer's and zero errors).
TARGETS: list[Target] = [
    ("1r client credentials, refresh 1d, vs peer client credentials", "cc_refresh", "peer-jwt", "cc_basic", 1.5),
    ("6b refresh rotation vs peer refresh rotation", "refresh", "peer-refresh", "refresh", 2.0),
    ("1 client credentials, no refresh, vs peer client credentials", "cc_basic", "peer-jwt", "cc_basic", 2.0),
]


def render(bench: Any, rows: list[Row]) -> str:
    a, m = bench.args, getattr(bench, "machine", {})
    main = [r for r in rows if r["phase"] == "main"]
    out = [
        f"# Keyturn benchmark, {m.get('date', '?')} ({'quick' if a.quick else 'full'} mode)",
        "",
        f"Command: `{a.command.strip()}`",
        "",
        "## Machine",
        "",
    ]
    for key in (
        "nproc",
        "cpu_model",
        "memory_gib",
        "kernel",
        "python",
        "node",
        "wrk",
        "oidc_provider",
        "postgres",
        "loadavg_at_start",
    ):
        out.append(f"- {key}: {m.get(key)}")
    out += [
        "",
        "## Method",
        "",
        "- Each server pinned to CPU 0 (`taskset -c 0`), wrk (`-t1`) pinned to CPU 1; all servers stay "
        "up for the whole run (idle when not loaded) and the cells are interleaved, the pass order "
        "alternating, so drift on this shared machine hits every server alike.",
        f"- Per cell a discarded {a.warmup:g} s warm-up, then {a.passes} pass(es) of {a.duration:g} s; "
        "medians across passes; `errors` = non-2xx (wrk counts status ≥ 400) + socket errors, summed "
        "over passes, out of all requests sent.",
        "- CPU% is CPU time over wall time (100 = one core busy): `server` = the server's processes, "
        "`wrk` = the load generator, `db` = every postgres process on the machine (PostgreSQL is not "
        "pinned and may share either core); `server CPU ms/req` = the server's CPU time per request (steadier "
        "than req/s when the machine is shared); `other` = the rest of both cores' busy time (other work on "
        "this machine during the run: high values mean a disturbed run).",
        "- Keyturn: `keyturn serve` (uvicorn, uvloop + httptools), no debug, no reload, log level info "
        "with access logs to a file; `KEYTURN_ENVIRONMENT=development` only so the issuer may be http "
        "on loopback. Peer: node-oidc-provider with its in-memory store, `NODE_ENV=production`.",
        "- Introspection tokens are issued just before each run (the peer's in-memory store keeps only "
        "the last 1,000 tokens). Scenario 6 spends single-use values minted just before each run (not "
        "timed): authorization codes of first-party clients (6a: ID tokens in the default RS256; 6a': a "
        "client registered with `id_token_signed_response_alg` ES256), refresh tokens of a `--refresh 1d` "
        "credential and, for the peer started with `REFRESH=1`, of its `POST /bench/mint-refresh`; each "
        "answer's rotated refresh token is sent next on both; a run whose pool runs dry is timed until then.",
        "- Scenario 1r is scenario 1 with seed 000's credential (`refresh: 1d`): every answer carries a "
        "refresh token, written to the database. The peer's reference is its client-credentials grant "
        "(JWT ES256), which issues no refresh token.",
        f"- Idle latency: {a.idle_requests} sequential requests (after {IDLE_WARMUP} discarded) on one "
        "keep-alive connection from a Python client pinned to CPU 1, one server at a time, nothing else "
        "loading it; refresh requests spend the previous answer's refresh token.",
        "",
        f"## Results (req/s and latencies: medians of {a.passes} pass(es))",
        "",
        *_disturbance(bench.runs),
        main_table(main, TITLES, LABELS) if main else "(no runs)",
        "",
        "## Keyturn / peer (req/s ratio; > 1 means Keyturn is faster)",
        "",
        ratio_table(main, PEER_PAIRS, KEYTURNS, bench.conns),
        "",
        "## Targets (issue 11)",
        "",
        "Keyturn value / peer value from this run's medians; the peer's client credentials are "
        "node-oidc-provider's JWT ES256 ones, which carry no refresh token.",
        "",
        targets_table(main, TARGETS, KEYTURNS, bench.conns),
        "",
        "## Idle latency (sequential requests on one connection, ms)",
        "",
        _idle_table(getattr(bench, "idle", [])),
        "",
        "## Share of the framework ceiling (req/s ÷ the same server's GET /health)",
        "",
    ]
    body = []
    for scenario in (
        "cc_basic",
        "cc_refresh",
        "cc_post",
        "cc_json",
        "introspect",
        "api_key",
        "refresh",
        "auth_code",
        "auth_code_es256",
    ):
        for c in bench.conns:
            cells = [ratio(rps_of(main, t, scenario, c), rps_of(main, t, "health", c)) for t in KEYTURNS]
            if any(x != "–" for x in cells):
                body.append([TITLES[scenario], c, *cells])
    out += [table(["scenario", "conns", *KEYTURNS.values()], body) if body else "(GET /health not measured)", ""]
    out += [
        "## 1 worker vs 2 workers (scenario 1, SQLite)",
        "",
        "`keyturn serve --workers 2` and `--workers 1` with **nothing pinned** (neither the server nor "
        "wrk), so workers and wrk share both cores; the pinned 1-worker row from the main table is "
        "repeated for reference.",
        "",
    ]
    wrows = [r for r in rows if r["phase"] == "workers"] + [
        r for r in main if r["target"] == "kt-sqlite" and r["scenario"] == "cc_basic"
    ]
    out += [main_table(wrows, TITLES, LABELS) if wrows else "(not run)", ""]
    for c in bench.conns:
        one, two = rps_of(wrows, "kt-sqlite-1w", "cc_basic", c), rps_of(wrows, "kt-sqlite-2w", "cc_basic", c)
        out.append(f"- c{c}: 2 workers / 1 worker = {ratio(two, one)}")
    out += ["", "## Memory (Keyturn server processes, from /proc)", ""]
    mem_rows = []
    for target, mem in bench.memory.items():
        if isinstance(mem, dict) and "per_process" in mem:
            for pid, p in mem["per_process"].items():
                mem_rows.append([LABELS.get(target, target), pid, p["process"], p["rss_mib"], p["peak_rss_mib"]])
    out += [
        table(["server (after its runs)", "pid", "process", "RSS MiB", "peak RSS (VmHWM) MiB"], mem_rows),
        "",
    ]
    soak = bench.memory.get("soak")
    if soak:
        res = soak["result"]
        out += [
            f"Soak: scenario 1, Keyturn SQLite, c{soak['conns']}, {soak['seconds']} s: "
            f"{res.get('rps', 0):,.0f} req/s, errors {res.get('errors', res.get('error'))}; "
            f"RSS {soak['rss_start_mib']} → {soak['rss_end_mib']} MiB (growth {soak['growth_mib']:+} MiB, "
            f"min {soak['rss_min_mib']}, max {soak['rss_max_mib']}, peak VmHWM {soak['peak_rss_mib']} MiB; "
            f"{len(soak['samples'])} samples)."
        ]
    if "soak_note" in bench.memory:
        out.append(f"Note: {bench.memory['soak_note']}.")
    out += ["", "## Servers", ""]
    for target, notes in bench.notes.items():
        out.append(f"- {LABELS.get(target, target)}: " + "; ".join(f"{k}: `{v}`" for k, v in notes.items()))
    out += ["", "## Skipped or failed", ""]
    out += [
        f"- {LABELS.get(s['target'], s['target'])} / {TITLES.get(s['scenario'], s['scenario'])}: {s['reason']}".replace(
            "\n", " "
        )
        for s in bench.skips
    ] or ["- nothing"]
    return "\n".join(out) + "\n"


def _disturbance(runs: list[Row]) -> list[str]:
    """A warning when other work on the machine took a noticeable share of the cores."""
    other = sorted(r.get("other_cpu_pct") or 0.0 for r in runs)
    if not other:
        return []
    median, busy = other[len(other) // 2], sum(1 for x in other if x > 20)
    if busy == 0:
        return [f"Other load on the machine stayed low (median other CPU {median:.0f}%).", ""]
    return [
        f"**Disturbed:** other work on this machine took over 20% of a core in {busy} of {len(other)} "
        f"runs (median other CPU {median:.0f}%); compare those rows with care and re-run on a quiet "
        "machine for figures to keep.",
        "",
    ]


def _idle_table(idle: list[Row]) -> str:
    if not idle:
        return "(not run)"
    order = list(TITLES)
    rows = sorted(idle, key=lambda r: (order.index(r["scenario"]), list(LABELS).index(r["target"])))
    return table(
        ["scenario", "server", "requests", "median ms", "p99 ms", "mean ms", "max ms", "errors", "reconnects"],
        [
            [
                TITLES[r["scenario"]],
                LABELS[r["target"]],
                r["requests"],
                r.get("p50_ms"),
                r.get("p99_ms"),
                r.get("mean_ms"),
                r.get("max_ms"),
                r["errors"],
                r["reconnects"],
            ]
            for r in rows
        ],
    )
