"""The access log: one line per HTTP request on standard output, buffered like nginx's.

uvicorn's access log goes through Python's ``logging`` (a LogRecord, a formatter and
a flushed write per request): about a quarter of a token request's CPU time. This
one formats a line with one f-string and hands the lines to the operating system in
batches, at most ``flush_seconds`` (0.25 s) after they were written or when 64 KiB
are pending, and at exit, the way nginx's ``access_log ... buffer= flush=`` does.
Each write holds whole lines and at most 4 KiB, so workers sharing one pipe
(a container's standard output) never interleave inside a line.

    2026-11-23T11:10:35.201Z 127.0.0.1:50412 "POST /token HTTP/1.1" 200 0.8ms client=3f2a... rid=Yc3…

With ``KEYTURN_LOG_FORMAT=json`` each line is one JSON object instead: ``time``, ``level`` (INFO),
``logger`` (``keyturn.access``), ``message`` (``POST /token 200``), ``request_id``, ``peer``,
``client_ip``, ``method``, ``path``, ``http_version``, ``status``, ``duration_ms`` and ``client`` (or null).

- The path is the raw path as received (still percent-encoded), without the query
  string: a query may carry personal data (``login_hint``), and a percent-decoded
  path could carry a line break into the log.
- ``client=`` names the client (or API key) that authenticated, when one did;
  endpoints set it with ``note_client``. Nothing secret is ever written (a path that
  carries a token anyway is masked, keyturn.core.secrets.mask_secrets).
- ``ip=`` is the client's address when it is not the peer's: behind a proxy listed in
  ``KEYTURN_TRUSTED_PROXIES``, the address ``X-Forwarded-For`` names (keyturn.web.server.address);
  the JSON line's ``client_ip`` is the client's address always.
- ``rid=`` is the request's id (keyturn.web.server.requestid), the one echoed in ``X-Request-Id``.
- Lines the stream refuses (full disk, closed pipe) are counted in
  ``keyturn_log_lines_dropped_total{stream="access"}``.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import sys
import time
from typing import IO

from starlette.types import ASGIApp, Scope

from keyturn.core.secrets import mask_secrets
from keyturn.metrics import LOG_LINES_DROPPED
from keyturn.web.server.address import client_address
from keyturn.web.server.answered import Answered, Recorder
from keyturn.web.server.requestid import request_id_of

CLIENT_KEY = "keyturn.client"
FLUSH_SECONDS = 0.25
MAX_PENDING = 64 * 1024
ATOMIC_WRITE = 4096  # PIPE_BUF on Linux: a write this size to a pipe is never interleaved with another's


def note_client(scope: Scope, client_id: str) -> None:
    """Name the authenticated client in this request's access-log line."""
    scope[CLIENT_KEY] = client_id


class LineBuffer:
    """Lines handed to a stream in batches: at most FLUSH_SECONDS late, and at exit."""

    def __init__(self, stream: IO[bytes] | None = None, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.stream = stream
        self.flush_seconds = flush_seconds
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        atexit.register(self.flush)

    def write(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= MAX_PENDING:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.flush_seconds, self.flush)
            except RuntimeError:  # no event loop (called from a thread or at shutdown)
                self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        lines, self._lines, self._size = self._lines, [], 0
        stream = self.stream or sys.stdout.buffer
        chunks = _chunks(lines)
        for i, (chunk, _) in enumerate(chunks):
            try:
                stream.write(chunk)
                stream.flush()  # one write per chunk: workers sharing a pipe never split each other's lines
            except (OSError, ValueError):  # stdout full, closed or gone: losing access lines beats crashing,
                LOG_LINES_DROPPED.labels(stream="access").inc(sum(n for _, n in chunks[i:]))  # but they count
                return


def _chunks(lines: list[str], limit: int = ATOMIC_WRITE) -> list[tuple[bytes, int]]:
    """Whole lines packed into writes of at most ``limit`` bytes (PIPE_BUF: atomic on a pipe), with how
    many lines each holds."""
    out: list[tuple[bytes, int]] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        data = line.encode("utf-8", "backslashreplace")
        if current and size + len(data) > limit:
            out.append((b"".join(current), len(current)))
            current, size = [], 0
        current.append(data)
        size += len(data)
    if current:
        out.append((b"".join(current), len(current)))
    return out


class _Clock:
    """The timestamp's second part formatted once per second (the hot path formats only ms)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"


class AccessLog(Answered):
    """ASGI middleware writing one access-log line per HTTP request."""

    def __init__(self, app: ASGIApp, buffer: LineBuffer | None = None, json_lines: bool = False,
                 also: Recorder | None = None, trusted_proxies: tuple[str, ...] = ()) -> None:
        super().__init__(app, also)
        self.buffer = buffer or LineBuffer()
        self._clock = _Clock()
        self.json_lines = json_lines
        self.trusted_proxies = trusted_proxies

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        self.buffer.write(self.line(scope, status, seconds))

    def line(self, scope: Scope, status: int, seconds: float) -> str:
        peer = scope.get("client")
        where = f"{peer[0]}:{peer[1]}" if peer else "-"
        address = client_address(scope, self.trusted_proxies)
        forwarded = address if address is not None and (not peer or address != peer[0]) else None
        raw = scope.get("raw_path")
        path = raw.decode("ascii", "backslashreplace") if raw else scope.get("path", "")
        if not path.isprintable():
            path = path.encode("unicode_escape").decode("ascii")
        path = mask_secrets(path)
        client = scope.get(CLIENT_KEY)
        rid = request_id_of(scope)
        method, version = scope["method"], scope.get("http_version", "1.1")
        if self.json_lines:
            return json.dumps({
                "time": self._clock.stamp(time.time()), "level": "INFO", "logger": "keyturn.access",
                "message": f"{method} {path} {status}", "request_id": rid, "peer": where,
                "client_ip": address, "method": method,
                "path": path, "http_version": version, "status": status, "duration_ms": round(seconds * 1000, 1),
                "client": client}) + "\n"
        who = f" client={client}" if client else ""
        ids = f" rid={rid}" if rid else ""
        via = f" ip={forwarded}" if forwarded else ""
        return (f'{self._clock.stamp(time.time())} {where} "{method} {path} '
                f'HTTP/{version}" {status} {seconds * 1000:.1f}ms{who}{via}{ids}\n')

