"""RFC 6749 §4.1.3: authorization code exchange with PKCE (RFC 7636). Implemented by the OIDC provider."""

from __future__ import annotations

from typing import Any

from keyturn.core.errors import UnsupportedGrantType
from keyturn.grants.base import AUTH_PARAMS, TokenRequest
from keyturn.services.context import Context

GRANT_TYPE = "authorization_code"
PARAMS = AUTH_PARAMS | {"code", "redirect_uri", "code_verifier"}


async def handle(ctx: Context, req: TokenRequest) -> dict[str, Any]:
    raise UnsupportedGrantType("authorization_code is not enabled yet")
