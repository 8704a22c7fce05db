"""Seed 001's oidc-client app in two tabs of headless Chromium, renewing at once (docs/client-authentication.md).

Both tabs share the user in ``localStorage`` (the seed's ``WebStorageStateStore``) and run
``automaticSilentRenew``. When their access-token-expiring timers fire together (oidc-client checks its timer
every 5 s in each tab; background tabs' timers are throttled and bunched by the browser, so two tabs of a sleeping
laptop wake up together), each tab's ``signinSilent`` reads the same refresh token and sends it. The test fires
that timer's event (``events._accessTokenExpiring.raise()``, what oidc-client's ``Timer`` calls) in both tabs at
the same instant, so the race is certain rather than likely; from there on it is oidc-client's own code path.

- Strict rotation (the default): one tab renews, the other gets ``invalid_grant``, and the reuse revoked the
  family: the refresh token the first tab stored is dead too, so the next renewal in either tab fails and the
  seed's ``refreshUser`` says "login required": the user is logged out of the app.
- ``KEYTURN_REFRESH_REUSE_GRACE=10``: both tabs renew with the identical successor and access token, and the
  family lives on (a later renewal succeeds).

Skipped without Chromium or node_modules, except when CI=true (then it fails).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_oidc_client_seed001 import (
    ARTIFACTS,
    CHROMIUM,
    OIDC_JS,
    PASSWORD,
    PHONE,
    _require,
    _serve_app,
    launch_chromium,
)
from tests.server import start_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

LISTEN = """() => {
    window.renewErrors = [];
    userManager.events.addSilentRenewError((e) => { window.renewErrors.push(String((e && e.message) || e)); });
}"""
AT_ONCE = "(at) => setTimeout(() => userManager.events._accessTokenExpiring.raise(), at - Date.now())"
SETTLED = "() => window.renewed.length + window.renewErrors.length >= 1"
STORED = "() => userManager.getUser().then(u => u && [u.refresh_token, u.access_token])"
RENEW = "() => userManager.signinSilent().then(u => u.access_token, e => 'error: ' + String(e && e.message || e))"


def _sign_in(page: Any, app: str, keyturn_url: str) -> None:
    page.goto(f"{app}/")
    page.wait_for_url(f"{keyturn_url}/interaction/**")
    page.fill("#password", PASSWORD)
    page.click("button[name=signin]")
    page.wait_for_selector("body[data-signed-in=yes]")


@pytest.mark.parametrize("grace", [0, 10], ids=["strict", "grace"])
def test_two_tabs_renewing_with_one_refresh_token(tmp_path: Path, grace: int) -> None:
    _require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None, "Debian chromium")
    _require(OIDC_JS.exists(), "tests/js/node_modules (npm install)")
    from playwright.sync_api import sync_playwright

    keyturn = start_server(f"sqlite+aiosqlite:///{tmp_path}/tabs.db", tmp_path,
                           env_extra={"KEYTURN_REFRESH_REUSE_GRACE": str(grace)})
    app_server = None
    try:
        keyturn.cli("users", "create", "--email", "ana@example.test", "--phone", PHONE, "--password", PASSWORD,
                    "--given-name", "Ana", "--family-name", "Pay", "--username", "ana", "--verified")
        config: dict[str, str] = {}
        app_server, app = _serve_app(config)
        rp = keyturn.cli("clients", "create", "--name", "Seed 001 app", "--public", "--first-party",
                         "--redirect-uri", f"{app}/oidc-callback", "--post-logout-redirect-uri", f"{app}/logged-out")
        config.update({"issuer": keyturn.url, "clientId": rp["client_id"], "phone": PHONE})
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                context = browser.new_context()
                context.set_default_timeout(15000)
                one = context.new_page()
                _sign_in(one, app, keyturn.url)
                two = context.new_page()  # the second tab finds the user in localStorage
                two.goto(f"{app}/")
                two.wait_for_selector("body[data-signed-in=yes]")
                first_rt, _ = one.evaluate(STORED)
                assert first_rt and two.evaluate(STORED)[0] == first_rt
                tabs = (one, two)
                for tab in tabs:
                    tab.evaluate(LISTEN)
                at = one.evaluate("Date.now()") + 2000  # both timers set well before they fire, even under load
                for tab in tabs:  # both tabs' automaticSilentRenew fires at the same instant
                    tab.evaluate(AT_ONCE, at)
                assert one.evaluate("Date.now()") < at, "the tabs' timers were not both set in time"
                for tab in tabs:
                    tab.wait_for_function(SETTLED)
                renewed = [tab.evaluate("window.renewed") for tab in tabs]
                errors = [tab.evaluate("window.renewErrors") for tab in tabs]
                stored_rt, stored_at = one.evaluate(STORED)
                assert stored_rt != first_rt
                for i, tab in enumerate(tabs, 1):
                    tab.screenshot(path=str(ARTIFACTS / f"oidc-two-tabs-{'grace' if grace else 'strict'}-{i}.png"),
                                   full_page=True)
                token_endpoint = f"{keyturn.url}/token"
                if grace:
                    # Both tabs renewed with the identical answer; the family lives on.
                    assert errors == [[], []], errors
                    assert "event=refresh_token.reissued" in keyturn.log()  # the second tab's was a repeat
                    assert renewed[0] == renewed[1] == [stored_at], renewed
                    later = two.evaluate(RENEW)
                    assert not later.startswith("error") and later != stored_at, later
                    assert one.evaluate(STORED)[0] != stored_rt
                else:
                    # One tab renewed, the other's refresh was reuse: the family is revoked, the user logged out.
                    assert sorted(len(r) for r in renewed) == [0, 1] and sorted(len(e) for e in errors) == [0, 1], \
                        (renewed, errors)
                    assert "invalid_grant" in "".join(sum(errors, [])), errors
                    dead = httpx.post(token_endpoint, data={"grant_type": "refresh_token", "refresh_token": stored_rt,
                                                            "client_id": rp["client_id"]})
                    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant", dead.text
                    assert two.evaluate(RENEW).startswith("error")
                    # The seed's refreshUser on an expired user: the renewal fails, "login required".
                    failed = one.evaluate("""async () => {
                        const u = await userManager.getUser(); u.expires_at = Math.floor(Date.now() / 1000) - 5;
                        await userManager.storeUser(u);
                        return window.refreshUser().then(() => 'refreshed', () => 'login required'); }""")
                    assert failed == "login required"
                log = keyturn.log()
                assert first_rt not in log and stored_rt not in log  # secrets never logged
            finally:
                browser.close()
    finally:
        if app_server is not None:
            app_server.shutdown()
            app_server.server_close()
        keyturn.stop()
