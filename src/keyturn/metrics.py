"""Prometheus metrics (the maintained ``prometheus-client``): every metric Keyturn exports, declared once.

Code that counts something imports the metric from here and calls ``.labels(...).inc()`` /
``.observe(...)``; ``GET /metrics`` exposes them (keyturn.web.server.metrics). Label values are
always from a small fixed set (a route template, a grant type, a reason code), never from input.
With ``keyturn serve --workers N`` the values live in ``PROMETHEUS_MULTIPROC_DIR`` (set by the CLI
before the workers start) and one scrape sums every worker.

prometheus-client picks its value store when it is imported: with ``PROMETHEUS_MULTIPROC_DIR`` set it
opens a file there for each metric declared below. A variable naming no directory (left over in an
operator's shell) would make every ``keyturn`` command fail at import, so it is dropped here, before
that import, and remembered in :data:`IGNORED_MULTIPROC_DIR` (``keyturn serve`` warns about it); the
process then keeps its metrics in memory.
"""

from __future__ import annotations

import os

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
IGNORED_MULTIPROC_DIR: str | None = None
if os.environ.get(MULTIPROC_ENV) is not None and not os.path.isdir(os.environ[MULTIPROC_ENV]):  # pragma: no cover
    IGNORED_MULTIPROC_DIR = os.environ.pop(MULTIPROC_ENV)  # tests/interop/test_metrics_live.py (a subprocess)

# after the check above:
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "keyturn_http_requests_total", "HTTP requests answered, by route template, method and status.",
    ("route", "method", "status"))
HTTP_LATENCY = Histogram(
    "keyturn_http_request_duration_seconds", "Time from the request's arrival to its answer, by route template.",
    ("route",), buckets=LATENCY_BUCKETS)
TOKENS_ISSUED = Counter(
    "keyturn_tokens_issued_total", "Access tokens issued, by grant type.", ("grant",))
CLIENT_AUTH_FAILURES = Counter(
    "keyturn_client_auth_failures_total", "Failed client authentications, by reason.", ("reason",))
JWKS_URI_FETCHES = Counter(
    "keyturn_jwks_uri_fetches_total",
    "Fetches of clients' jwks_uri (private_key_jwt), by outcome: ok, refused, timeout, network, http_status, "
    "too_large, invalid.", ("outcome",))
LOGIN_FAILURES = Counter(
    "keyturn_login_failures_total", "Failed sign-ins at the hosted login page, by reason.", ("reason",))
REPLAYS_DETECTED = Counter(
    "keyturn_replays_detected_total",
    "A spent refresh token or authorization code presented again (its family is revoked), by kind.", ("kind",))
RATE_LIMITED = Counter(
    "keyturn_rate_limited_total", "Requests refused by a limit (429), by limit.", ("limit",))
LOAD_SHED = Counter(
    "keyturn_load_shed_total", "Requests answered 503 because the worker was at its in-flight limit.")
DATABASE_ERRORS = Counter(
    "keyturn_database_errors_total",
    "Requests that failed because the database was unavailable or too slow, by kind.", ("kind",))
CACHE_LOOKUPS = Counter(
    "keyturn_cache_lookups_total", "In-process cache lookups, by cache and result (hit or miss).",
    ("cache", "result"))
GROUP_COMMIT_BATCH = Histogram(
    "keyturn_group_commit_batch_size", "Write units per group-commit transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000))
LOG_LINES_DROPPED = Counter(
    "keyturn_log_lines_dropped_total", "Log lines that could not be written (full disk, closed pipe), by stream.",
    ("stream",))
ROWS_PURGED = Counter(
    "keyturn_rows_purged_total", "Expired rows deleted by the purge task, by table.", ("table",))
REDIS_ERRORS = Counter(
    "keyturn_redis_errors_total",
    "Redis calls that failed or timed out (limits then count in process for about a second).")
DATABASE_CONNECTIONS_IN_USE = Gauge(
    "keyturn_database_connections_in_use", "Database connections checked out of the pool, summed over live workers.",
    multiprocess_mode="livesum")


def exposition() -> bytes:
    """Every metric in the Prometheus text format: with ``PROMETHEUS_MULTIPROC_DIR`` (``serve --workers N``),
    summed over every worker's files; else this process's own."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
