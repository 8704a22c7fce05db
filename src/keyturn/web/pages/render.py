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
from keyturn.web.params import FORM, Pairs, Params, collect, decode, media_type, read_body

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                   auto_reload=False)

MAX_FORM = 16 * 1024  # bytes of a page's form
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


def error_page(message: str, status: int = 400, headers: dict[str, str] | None = None) -> HTMLResponse:
    return page("error.html", status=status, headers=headers, title="Something went wrong", message=message)


def see_other(location: str) -> Response:
    """303 after POSTs (RFC 9700 §4.12) and for every authorization response."""
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def browser_cookie(ctx: Services) -> str:
    return cookie_name(ctx, BROWSER_COOKIE)


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


async def read_form_pairs(request: Request, max_bytes: int = MAX_FORM) -> Pairs | None:
    """A POSTed urlencoded form's pairs, in order (keyturn.web.params); None if it is not one, too large or
    malformed."""
    if media_type(request) != FORM:
        return None
    try:
        return decode(await read_body(request, max_bytes))
    except OAuthError:
        return None


async def read_form(request: Request) -> Params | None:
    """A POSTed form whose fields are each sent once (RFC 6749 §3.1, as every parameter); None if unusable."""
    pairs = await read_form_pairs(request)
    if pairs is None:
        return None
    form = collect(pairs)
    return None if form.repeated else form.values
