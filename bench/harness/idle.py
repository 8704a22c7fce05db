"""Latency of one request on an idle server: sequential requests on one keep-alive connection.

wrk measures a loaded server; this measures what a lone client waits for when nothing else runs
(issue 11: group commit must add no latency to a batch of one). The client is this process,
pinned to the load generator's CPU for the loop, so the server keeps its core to itself.
Bounded in requests and in seconds.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from .load import Request
from .servers import HOST, Server

IDLE_WARMUP = 10  # discarded requests before the timed ones
IDLE_MAX_SECONDS = 30.0  # bound of one loop, whatever the server's speed


@contextmanager
def pinned(cpus: str | None) -> Iterator[None]:
    """Run the calling thread on `cpus` (taskset's list syntax, single CPUs only) for the block."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def nearest_rank(sorted_ms: list[float], pct: float) -> float:
    """The pct-th percentile by nearest rank (of 200 values, p99 is the 198th)."""
    return sorted_ms[max(0, math.ceil(pct / 100 * len(sorted_ms)) - 1)]


def idle_latency(
    server: Server,
    req: Request,
    *,
    requests: int = 200,
    warmup: int = IDLE_WARMUP,
    max_seconds: float = IDLE_MAX_SECONDS,
    cpus: str | None = None,
) -> dict[str, Any]:
    """`warmup` discarded, then up to `requests` timed requests one after another (fewer if
    `max_seconds` runs out); median, p99, mean and max in ms, errors (non-2xx or no answer)."""
    chain = req.chain
    value = chain.seed() if chain else ""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    times: list[float] = []
    errors = reconnects = 0
    deadline = time.monotonic() + max_seconds
    with pinned(cpus):
        try:
            for i in range(warmup + requests):
                if time.monotonic() > deadline:
                    break
                body = chain.prefix + quote(value, safe="") if chain else req.body
                t0 = time.perf_counter()
                try:
                    conn.request(req.method, req.path, body=body.encode() if body else None, headers=req.headers)
                    resp = conn.getresponse()
                    text, status, close = resp.read(), resp.status, resp.will_close
                except (OSError, http.client.HTTPException):
                    text, status, close = b"", 0, True
                elapsed_ms = (time.perf_counter() - t0) * 1000
                if close:
                    conn.close()  # the next request opens a new connection (counted: it is not keep-alive)
                    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
                    reconnects += 1
                ok = 200 <= status < 300
                if chain:
                    nxt = _field(text, chain.next_field) if ok else None
                    ok = nxt is not None
                    value = nxt if nxt is not None else chain.seed()  # a broken chain starts again
                if i >= warmup:
                    times.append(elapsed_ms)
                    errors += not ok
        finally:
            conn.close()
    times.sort()
    out: dict[str, Any] = {"requests": len(times), "errors": errors, "reconnects": reconnects}
    if times:
        out.update(
            p50_ms=round(statistics.median(times), 3),
            p99_ms=round(nearest_rank(times, 99), 3),
            mean_ms=round(statistics.fmean(times), 3),
            max_ms=round(times[-1], 3),
        )
    return out


def _field(body: bytes, name: str) -> str | None:
    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None
