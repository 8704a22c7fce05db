"""What every grant handler receives (a :class:`TokenRequest`, defined with client authentication) and returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from keyturn.core.errors import UnauthorizedClient
from keyturn.core.models import Client
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services

AUTH_PARAMS = frozenset({"grant_type", "client_id", "client_secret"})


GrantHandler = Callable[[Services, TokenRequest], Awaitable[dict[str, Any]]]


def require_grant_type(client: Client, grant_type: str) -> None:
    """ASVS 10.4.4 / RFC 6749 §5.2: a client uses only the grant types it was registered for."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")
