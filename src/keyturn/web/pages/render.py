"""Server-rendered pages (Jinja2, autoescaped) with the headers every provider page carries.

RFC 9700 §4.16 / ASVS 3.4: no framing (CSP frame-ancestors 'none' and X-Frame-Options DENY),
no third-party resources, no referrer, no caching, a COOP header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from keyturn.core.errors import OAuthError
from keyturn.services.context import Services
from keyturn.services.oidc.sessions import cookie_name
from keyturn.web.params import parse_form, read_body

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                   auto_reload=False)

BROWSER_COOKIE = "keyturn_browser"  # binds an interaction to the browser that started it
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def page(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def error_page(message: str, status: int = 400) -> HTMLResponse:
    return page("error.html", status=status, title="Something went wrong", message=message)


def see_other(location: str) -> Response:
    """303 after POSTs (RFC 9700 §4.12) and for every authorization response."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def browser_cookie(ctx: Services) -> str:
    return cookie_name(ctx, BROWSER_COOKIE)


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


async def read_form(request: Request, max_bytes: int = 16 * 1024) -> dict[str, str] | None:
    """An urlencoded form (our own strict parser: repeated fields are refused); None if unusable."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        return parse_form(await read_body(request, max_bytes))
    except OAuthError:
        return None
