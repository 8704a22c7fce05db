"""Minting authorization codes the way a browser would: sign in once on the hosted login page,
then ask the authorization endpoint for one code after another with that session.

Only the standard pieces are assumed: `GET /authorize` answering 30x, an HTML login form
(hidden fields kept, a text and a password field filled in), cookies, and the redirect URI
coming back with `code=`. A consent form, if one is shown, is submitted with its first
button that does not decline.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from .servers import HOST

DECLINE = ("cancel", "deny", "decline", "reject")


class MintFailed(RuntimeError):
    pass


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class _Form(HTMLParser):
    """The first <form> of a page: its action and the fields a submit would send."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.text: list[str] = []
        self.password: list[str] = []
        self.buttons: list[tuple[str, str]] = []
        self._in = self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done:
            self._in, self.action = True, a.get("action", "")
        elif self._in and tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind == "password":
                self.password.append(a["name"])
            elif kind in ("text", "email", "tel"):
                self.text.append(a["name"])
            elif kind == "submit":
                self.buttons.append((a["name"], a.get("value", "")))
            elif kind != "checkbox" or "checked" in a:
                self.fields[a["name"]] = a.get("value", "")
        elif self._in and tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in:
            self._in, self._done = False, True


class Browser:
    def __init__(self, port: int, cookies: dict[str, str] | None = None) -> None:
        self.port = port
        self.cookies = dict(cookies or {})
        self.conn = http.client.HTTPConnection(HOST, port, timeout=10)

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location, body), keeping cookies."""
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode(errors="replace")
        for cookie in resp.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return resp.status, resp.headers.get("Location", ""), text

    def sign_in(self, path: str, redirect_uri: str, username: str, password: str) -> str:
        """Follow path through login (and consent) until the redirect URI; that URL."""
        method, form = "GET", None
        for _ in range(10):
            status, location, body = self.request(method, path, form)
            if status in (301, 302, 303, 307, 308) and location:
                if location.startswith(redirect_uri):
                    return location
                path, method, form = _local(location, path), "GET", None
                continue
            page = _Form()
            page.feed(body)
            if (status >= 400 and not page.password) or page.action is None:
                raise MintFailed(f"{method} {path} -> {status} {body[:300]!r}")
            form = dict(page.fields)
            if page.password:
                form.update({name: username for name in page.text[:1]})
                form.update({name: password for name in page.password[:1]})
            accept = [b for b in page.buttons if not any(w in (b[0] + b[1]).lower() for w in DECLINE)]
            if accept:
                form[accept[0][0]] = accept[0][1]
            path, method = _local(page.action or path, path), "POST"
        raise MintFailed(f"no redirect to {redirect_uri} after 10 steps (last {path})")


def _local(location: str, base: str) -> str:
    parts = urlsplit(urljoin(f"http://{HOST}{base}", location))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def code_of(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    if "code" not in query:
        raise MintFailed(f"redirect without a code: {location[:300]}")
    return query["code"][0]


def mint_codes(browser: Browser, authorize_path: str, count: int, max_seconds: float, workers: int = 4) -> list[str]:
    """Up to `count` codes (fewer if `max_seconds` runs out) from `authorize_path` with the
    signed-in browser's cookies, over parallel connections."""
    until = time.monotonic() + max_seconds
    codes: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        b = Browser(browser.port, browser.cookies)
        try:
            for _ in range(n):
                if time.monotonic() > until:
                    break
                status, location, body = b.request("GET", authorize_path)
                code = code_of(location) if status in (302, 303) else None
                if code is None:
                    raise MintFailed(f"GET {authorize_path[:80]}… -> {status} {body[:200]!r}")
                with lock:
                    codes.append(code)
        except (MintFailed, OSError, http.client.HTTPException) as exc:
            errors.append(str(exc))
        finally:
            b.conn.close()

    threads = [threading.Thread(target=work, args=(count // workers + (i < count % workers),)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors and not codes:
        raise MintFailed(errors[0])
    return codes
