"""Grant handlers, one module per grant type. ``REGISTRY`` maps ``grant_type`` to its handler.

Each handler declares the parameters it accepts (``PARAMS``); everything else is
dropped before it runs (RFC 6749 §3.2: unknown parameters are ignored).
"""

from __future__ import annotations

from keyturn.grants import authorization_code, client_credentials, refresh_token
from keyturn.grants.base import GrantHandler
from keyturn.services.client_auth import TokenRequest

REGISTRY: dict[str, GrantHandler] = {
    client_credentials.GRANT_TYPE: client_credentials.handle,
    refresh_token.GRANT_TYPE: refresh_token.handle,
    authorization_code.GRANT_TYPE: authorization_code.handle,
}
PARAMS: dict[str, frozenset[str]] = {
    client_credentials.GRANT_TYPE: client_credentials.PARAMS,
    refresh_token.GRANT_TYPE: refresh_token.PARAMS,
    authorization_code.GRANT_TYPE: authorization_code.PARAMS,
}

__all__ = ["PARAMS", "REGISTRY", "GrantHandler", "TokenRequest"]
