"""Seed 001's browser app calls the API from its own origin ("it will also need to be whitelisted for
cross-origin requests"), against a real ``keyturn serve``, in headless Chromium.

The page is served from an origin other than Keyturn's (another 127.0.0.1 port); its OIDC client
registers that origin. Chromium itself enforces CORS: both of seed 001's ``Authorization`` forms
(the bare token its curl sends, and ``Bearer <token>``) must be readable from the registered origin,
and the same page from an unregistered origin (``localhost`` on the same port) must be blocked.
"""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_oidc_client_seed001 import CHROMIUM, _require, launch_chromium
from tests.server import free_port, start_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seed 001 app</title></head>
<body><script>
// What seed 001's app does with the access token oidc-client gave it.
window.callApi = async (url, authorization, method) => {
  try {
    const r = await fetch(url, {method: method || 'GET', headers: {'Authorization': authorization}});
    return {status: r.status, body: await r.text()};
  } catch (e) {
    return {blocked: String(e)};
  }
};
</script></body></html>
"""


def _serve_page() -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def test_seed_001_app_calls_account_memberships_cross_origin_with_and_without_bearer(tmp_path: Path) -> None:
    _require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None, "Debian chromium")
    from playwright.sync_api import sync_playwright

    keyturn = start_server(f"sqlite+aiosqlite:///{tmp_path}/cors.db", tmp_path)
    page_server = None
    try:
        page_server, port = _serve_page()
        app, foreign = f"http://127.0.0.1:{port}", f"http://localhost:{port}"
        assert app != keyturn.url
        keyturn.cli("users", "create", "--email", "ana@example.test", "--password", "correct horse battery staple")
        keyturn.cli("clients", "create", "--name", "Seed 001 app", "--public", "--first-party",
                    "--redirect-uri", f"{app}/oidc-callback", "--origin", app)
        token = keyturn.cli("tokens", "issue", "--user", "ana@example.test")["access_token"]
        api = f"{keyturn.url}/api/account-memberships"
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                page.set_default_timeout(15000)
                page.goto(f"{app}/")
                for authorization in (token, f"Bearer {token}"):
                    got: dict[str, Any] = page.evaluate("([u, a]) => window.callApi(u, a)", [api, authorization])
                    assert got.get("status") == 200, got
                    assert '"role":"account-owner"' in got["body"].replace(" ", ""), got
                # An error is readable too (the app can tell a lapsed token from a network failure).
                got = page.evaluate("([u, a]) => window.callApi(u, a)", [api, "Bearer not-a-token"])
                assert got.get("status") == 401, got
                # Another method on the management API goes through a preflight, then the request.
                got = page.evaluate("([u, a]) => window.callApi(u, a)", [f"{keyturn.url}/api/v2/credential",
                                                                           f"Bearer {token}"])
                assert got.get("status") == 200, got

                # The same page from an origin no client registered: the browser refuses to hand over the answer.
                other = browser.new_page()
                other.set_default_timeout(15000)
                other.goto(f"{foreign}/")
                for authorization in (token, f"Bearer {token}"):
                    got = other.evaluate("([u, a]) => window.callApi(u, a)", [api, authorization])
                    assert "blocked" in got and "status" not in got, got
            finally:
                browser.close()
    finally:
        if page_server is not None:
            page_server.shutdown()
            page_server.server_close()
        keyturn.stop()
