"""Prometheus metrics (the maintained ``prometheus-client``): every metric Keyturn exports, declared once.

Code that counts something imports the metric from here and calls ``.labels(...).inc()`` /
``.observe(...)``; ``GET /metrics`` exposes them (keyturn.web.server.metrics). Label values are
always from a small fixed set (a route template, a grant type, a reason code), never from input.
With ``keyturn serve --workers N`` the values live in ``PROMETHEUS_MULTIPROC_DIR`` (set by the CLI
before the workers start) and one scrape sums every worker.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
