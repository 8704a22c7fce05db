"""Response helpers shared by the OAuth endpoints."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from keyturn.core.errors import OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  no_store: bool = True) -> Response:
    h = dict(NO_STORE) if no_store else {}
    if headers:
        h.update(headers)
    return Response(orjson.dumps(data), status_code=status, headers=h,
                    media_type="application/json")


def oauth_error_response(exc: OAuthError, headers: dict[str, str] | None = None) -> Response:
    """RFC 6749 §5.2 JSON, no-store; 401 carries WWW-Authenticate for the scheme the client used."""
    h: dict[str, str] = dict(headers or {})
    if exc.status_code == 401:
        scheme = exc.auth_scheme or "Basic"
        h["WWW-Authenticate"] = f'{scheme} realm="keyturn", error="{exc.error}"'
    if exc.retry_after is not None:
        h["Retry-After"] = str(exc.retry_after)
    return json_response(exc.as_dict(), exc.status_code, h)
