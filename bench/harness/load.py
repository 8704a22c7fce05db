"""Loading one endpoint with wrk: a fixed request described by `Request`, bounded in time.

wrk runs one thread, pinned with taskset when asked; its own CPU comes from wait4()'s rusage,
the server's and PostgreSQL's from /proc (see system.CpuMeter).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .servers import HOST, Server, http_call
from .system import CpuMeter, pids_named

LUA_DIR = Path(__file__).resolve().parents[1] / "lua"


@dataclass(frozen=True)
class Chain:
    """A single-use value sent one request after another (the idle-latency loop, harness/idle.py):
    each answer's JSON `next_field` is the next value; `seed()` gives a fresh one (not timed)."""

    prefix: str  # the form body before the url-encoded value
    next_field: str
    seed: Callable[[], str]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    script: str = "request.lua"
    # Before each run, given (connections, seconds): extra environment for the script.
    prepare: Callable[[int, float], dict[str, str]] | None = None
    # After each run (warm-ups too), given wrk's result: lets `prepare` size the next run.
    observe: Callable[[dict[str, Any]], None] | None = None
    # Single-use values (scenario 6b): how to send them one after another without wrk.
    chain: Chain | None = None


class CheckFailed(RuntimeError):
    pass


def check(server: Server, req: Request, expect: Callable[[str], bool] | None = None) -> str:
    """Send the request once; raise CheckFailed (with status and body) unless 2xx and `expect` holds."""
    status, body = http_call(server.port, req.method, req.path, req.headers, req.body)
    if not 200 <= status < 300 or (expect is not None and not expect(body)):
        raise CheckFailed(f"{req.method} {req.path} -> {status} {body[:500]!r}")
    return body


def has_field(key: str) -> Callable[[str], bool]:
    def expect(body: str) -> bool:
        try:
            return bool(json.loads(body).get(key))
        except (ValueError, AttributeError):
            return False

    return expect


def _wait(proc: subprocess.Popen[bytes], limit: float) -> tuple[int, float]:
    """Reap proc within `limit` seconds (killing it past that); (exit code, CPU seconds)."""
    deadline = time.monotonic() + limit
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.05)


def run_wrk(
    server: Server,
    req: Request,
    *,
    conns: int,
    seconds: float,
    label: str,
    wrk_cpus: str | None,
    out_dir: Path,
    db: bool = False,
) -> dict[str, Any]:
    """One bounded wrk run against `server`; wrk's JSON line plus CPU figures."""
    env = {
        **os.environ,
        "METHOD": req.method,
        "BODY": req.body,
        "LABEL": label,
        "HEADERS": "\n".join(f"{k}: {v}" for k, v in req.headers.items()),
    }
    if req.prepare is not None:
        env.update(req.prepare(conns, seconds))
    url = f"http://{HOST}:{server.port}{req.path}"
    argv = (["taskset", "-c", wrk_cpus] if wrk_cpus else []) + [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(LUA_DIR / req.script),
        url,
    ]
    groups: dict[str, Callable[[], list[int]]] = {"server": server.pids}
    if db:
        groups["db"] = lambda: pids_named("postgres")
    meter = CpuMeter(groups)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{label}.txt"
    with open(raw, "wb") as out:
        meter.start()
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        code, wrk_cpu_s = _wait(proc, seconds + 15)
        wall = time.monotonic() - t0
        cpu = meter.stop()
    text = raw.read_text(errors="replace")
    lines = [line[5:] for line in text.splitlines() if line.startswith("JSON ")]
    if code != 0 or not lines:
        raise RuntimeError(f"wrk exited {code} without a result line: {' '.join(argv)}\n{text[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result.update(cpu)
    result["wrk_cpu_pct"] = wrk_pct = round(100.0 * wrk_cpu_s / wall, 1)
    # Busy time of all cores not spent by the server, wrk or PostgreSQL: other load on the machine.
    busy = sum(v for k, v in cpu.items() if k.startswith("cpu") and k.endswith("_busy_pct"))
    ours = cpu["server_cpu_pct"] + wrk_pct + cpu.get("db_cpu_pct", 0.0)
    result["other_cpu_pct"] = round(max(0.0, busy - ours), 1)
    result["errors"] = int(result["non2xx"]) + int(result["sock_errors"])
    # Server CPU time per request: less sensitive than req/s to other load on the machine.
    rps = float(result["rps"])
    result["server_cpu_ms_per_req"] = round(cpu["server_cpu_pct"] * 10 / rps, 3) if rps else None
    if "POOL ran dry" in text:
        result["pool_ran_dry"] = True
    if req.observe is not None:
        req.observe(result)
    return result
