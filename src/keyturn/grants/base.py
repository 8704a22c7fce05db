"""What every grant handler receives and returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from keyturn.core.errors import UnauthorizedClient
from keyturn.core.models import Client
from keyturn.services.client_auth import ClientAuth
from keyturn.services.context import Context

AUTH_PARAMS = frozenset({"grant_type", "client_id", "client_secret"})


@dataclass(frozen=True, slots=True)
class TokenRequest:
    params: dict[str, str]
    auth: ClientAuth
    now: float
    ip: str | None = None
    origin: str | None = None

    @property
    def client(self) -> Client:
        return self.auth.client


GrantHandler = Callable[[Context, TokenRequest], Awaitable[dict[str, Any]]]


def require_grant_type(client: Client, grant_type: str) -> None:
    """ASVS 10.4.4 / RFC 6749 §5.2: a client uses only the grant types it was registered for."""
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant_type} grant")
