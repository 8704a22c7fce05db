"""Seed 001's browser example, run unchanged (but for `metadataSeed`) in headless Chromium.

npm ``oidc-client`` 1.11.5 (tests/js) in a page served on 127.0.0.1 signs in through the hosted
login page (phone number prefilled from ``u``), lands back with the seed's claims, renews silently
(refresh token, then the prompt=none iframe), refreshes as the seed's ``refreshUser`` does, calls
``/api/account-memberships`` with the access token as the seed's curl sends it, and logs out.
Screenshots go to test-artifacts/. Skipped without Chromium or node_modules, except when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import start_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def launch_chromium(pw: Any) -> Any:
    """Debian's headless Chromium (never a downloaded browser), as every browser test launches it."""
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"])
OIDC_JS = ROOT / "tests/js/node_modules/oidc-client/dist/oidc-client.min.js"
APP_HTML = Path(__file__).with_name("seed001_app.html")
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"
PHONE = "+6421234567890"
PASSWORD = "correct horse battery staple"

pytestmark = [pytest.mark.browser, pytest.mark.server]


def _require(ok: bool, what: str) -> None:
    if not ok:
        if IN_CI:
            pytest.fail(f"{what} is required in CI (run scripts/test-deps.sh)")
        pytest.skip(f"{what} is missing; run scripts/test-deps.sh (this test fails instead when CI=true)")


def _serve_app(config: dict[str, str]) -> tuple[ThreadingHTTPServer, str]:
    """Serve the app page on the first free port of 18300-18399; ``config`` may be filled in later."""
    js = OIDC_JS.read_bytes()
    template = APP_HTML.read_text()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/oidc-client"):
                body, ctype = js, "text/javascript"
            else:
                body = template.replace(
                    "<script src=\"/oidc-client.min.js\"></script>",
                    f"<script>window.KEYTURN_TEST = {json.dumps(config)};</script>\n"
                    "<script src=\"/oidc-client.min.js\"></script>").encode()
                ctype = "text/html"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    for port in range(18300, 18400):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{port}"
    raise RuntimeError("no free port in 18300-18399")


def test_seed_001_oidc_client_example_end_to_end(tmp_path: Path) -> None:
    _require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None, "Debian chromium")
    _require(OIDC_JS.exists(), "tests/js/node_modules (npm install)")
    from playwright.sync_api import sync_playwright

    keyturn = start_server(f"sqlite+aiosqlite:///{tmp_path}/browser.db", tmp_path)
    app_server = None
    try:
        user = keyturn.cli("users", "create", "--email", "ana@example.test", "--phone", PHONE, "--password",
                           PASSWORD, "--given-name", "Ana", "--family-name", "Pay", "--username", "ana",
                           "--verified")
        config: dict[str, str] = {}
        app_server, app = _serve_app(config)
        rp = keyturn.cli("clients", "create", "--name", "Seed 001 app", "--public", "--first-party",
                         "--redirect-uri", f"{app}/oidc-callback", "--post-logout-redirect-uri", f"{app}/logged-out")
        config.update({"issuer": keyturn.url, "clientId": rp["client_id"], "phone": PHONE})
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                page.set_default_timeout(15000)
                # 1. Login through the hosted page, the phone number prefilled from `u`.
                page.goto(f"{app}/")
                page.wait_for_url(f"{keyturn.url}/interaction/**")
                assert page.input_value("#username") == PHONE
                page.screenshot(path=str(ARTIFACTS / "oidc-login-page.png"), full_page=True)
                page.fill("#password", PASSWORD)
                page.click("button[name=signin]")
                page.wait_for_selector("body[data-signed-in=yes]")
                assert page.url == f"{app}/"  # the callback slurped its parameters with location.replace
                profile = json.loads(page.text_content("#profile") or "{}")
                assert profile["sub"] == user["id"]
                assert profile["phone_number"] == PHONE and profile["email"] == "ana@example.test"
                page.screenshot(path=str(ARTIFACTS / "oidc-signed-in-page.png"), full_page=True)
                first = page.evaluate("userManager.getUser().then(u => u.access_token)")
                assert page.evaluate("userManager.getUser().then(u => !!u.refresh_token)")

                # 2. Silent renew with the refresh token (what automaticSilentRenew does in 1.11).
                renewed = page.evaluate("userManager.signinSilent().then(u => u.access_token)")
                assert renewed != first
                # 3. Silent renew through the hidden iframe (prompt=none) when there is no refresh token.
                iframe_token = page.evaluate("""async () => {
                    const u = await userManager.getUser(); u.refresh_token = undefined;
                    await userManager.storeUser(u);
                    const v = await userManager.signinSilent(); return v.access_token; }""")
                assert iframe_token not in (first, renewed)
                # 4. The seed's manual refresh, with an expired user.
                refreshed = page.evaluate("""async () => {
                    const u = await userManager.getUser(); u.expires_at = Math.floor(Date.now() / 1000) - 5;
                    await userManager.storeUser(u);
                    const v = await window.refreshUser(); return [v.access_token, v.expired]; }""")
                assert refreshed[0] != iframe_token and refreshed[1] is False

                # 5. The seed's API call: `Authorization: <access token>` without "Bearer".
                token = page.evaluate("userManager.getUser().then(u => u.access_token)")
                r = httpx.get(f"{keyturn.url}/api/account-memberships", headers={"Authorization": token})
                assert r.status_code != 401, r.text
                if r.status_code == 200:
                    memberships = r.json()
                    items = memberships if isinstance(memberships, list) else memberships.get("data", [])
                    assert any(m.get("role") == "account-owner" for m in items), memberships

                # 6. Logout: back at the app's post-logout page with its state; the session is gone.
                page.evaluate("window.logout()")
                page.wait_for_selector("body[data-logged-out]")
                assert page.get_attribute("body", "data-logged-out") == f"{app}/"
                assert page.evaluate("userManager.getUser()") is None
                page.goto(f"{app}/")
                page.wait_for_url(f"{keyturn.url}/interaction/**")  # a new login is needed
            finally:
                browser.close()
    finally:
        if app_server is not None:
            app_server.shutdown()
            app_server.server_close()
        keyturn.stop()
