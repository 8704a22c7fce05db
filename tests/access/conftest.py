"""Helpers for the access-model tests: accounts and API keys through the same use cases as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from keyturn.services import accounts as accounts_service
from keyturn.services import api_keys as api_keys_service
from keyturn.services.context import Context


@pytest.fixture
def make_org(ctx: Context) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(owner: Any, name: str = "Acme Ltd", **kw: Any) -> dict[str, Any]:
        return await accounts_service.create_account(ctx, None, name=name, type="org", owner_id=owner.id, **kw)
    return make


@pytest.fixture
def make_key(ctx: Context) -> Callable[..., Awaitable[str]]:
    async def make(account_id: str, role: str = "merchant-terminal", name: str | None = None) -> str:
        import uuid
        data = await api_keys_service.create(ctx, None, account_id, name or f"k-{uuid.uuid4().hex[:8]}", role)
        return str(data["secret"])
    return make
