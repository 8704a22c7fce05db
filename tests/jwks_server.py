"""A real https server on 127.0.0.1 serving a client's JWK Set (its certificate from a test CA, tests/certs.py),
in a thread: what a client's ``jwks_uri`` points at in the private_key_jwt tests. Each path behaves one way:

- ``/jwks``: ``jwks`` (``Cache-Control`` when ``cache_control`` is set); ``status`` other than 200 answers that.
- ``/big``: more than 64 KiB; ``/gzip``: claims a content encoding; ``/slow``: answers after 3 s;
  ``/text``: not JSON; ``/redirect``: 302 to ``/jwks``; ``/private``: a key with its private member ``d``.
- every path first waits ``delay`` seconds (the single-flight tests).

``hits`` counts requests per path (what the cache tests count).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.certs import authority, issue


@dataclass
class JwksServer:
    port: int
    ca_file: str
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    cache_control: str | None = None
    delay: float = 0.0  # every path waits this long first
    hits: Counter[str] = field(default_factory=Counter)

    @property
    def host(self) -> str:
        """The allow-list entry for this server (KEYTURN_JWKS_URI_ALLOWED_HOSTS)."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/jwks") -> str:
        return f"https://127.0.0.1:{self.port}{path}"


def _handler(state: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?")[0]
            state.hits[path] += 1
            if state.delay:
                time.sleep(state.delay)
            json_type = {"Content-Type": "application/json"}
            if path == "/jwks":
                if state.status != 200:
                    self._send(state.status, b'{"error":"no"}', json_type)
                    return
                headers = dict(json_type, **({"Cache-Control": state.cache_control} if state.cache_control else {}))
                self._send(200, json.dumps(state.jwks).encode(), headers)
            elif path == "/big":
                key = state.jwks["keys"][0] if state.jwks["keys"] else {}
                self._send(200, json.dumps({"keys": [key], "pad": "x" * 70000}).encode(), json_type)
            elif path == "/slow":
                time.sleep(3)
                self._send(200, json.dumps(state.jwks).encode(), json_type)
            elif path == "/gzip":
                self._send(200, json.dumps(state.jwks).encode(), dict(json_type, **{"Content-Encoding": "gzip"}))
            elif path == "/text":
                self._send(200, b"<html>not a key set</html>", {"Content-Type": "text/html"})
            elif path == "/redirect":
                self._send(302, b"", {"Location": state.url("/jwks")})
            elif path == "/private":
                key = dict(state.jwks["keys"][0], d="AAAA")
                self._send(200, json.dumps({"keys": [key]}).encode(), json_type)
            else:
                self._send(404, b"")
    return Handler


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake or a client that gave up (the timeout tests): expected


def start(directory: Path) -> tuple[JwksServer, ThreadingHTTPServer]:
    ca = authority("Keyturn Outbound Test CA")
    ca_file = directory / "outbound-ca.pem"
    ca_file.write_bytes(ca.pem)
    cert, key = issue(ca, "localhost", server=True).write(directory, "jwks-server")
    httpd = _Quiet(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = JwksServer(port=httpd.server_address[1], ca_file=str(ca_file))
    httpd.RequestHandlerClass = _handler(state)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return state, httpd


@pytest.fixture
def jwks_server(tmp_path: Path) -> Iterator[JwksServer]:
    state, httpd = start(tmp_path)
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
