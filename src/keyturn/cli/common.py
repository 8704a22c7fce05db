"""Helpers shared by the CLI commands: one context per command, JSON output, clean errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from keyturn.core.errors import ApiError, KeyturnError
from keyturn.core.models import Principal, User
from keyturn.services.context import Context, build_context
from keyturn.services.users import find_user
from keyturn.settings import load_settings
from keyturn.storage.db import migrate

T = TypeVar("T")


def run(fn: Callable[[Context], Awaitable[T]]) -> T:
    """Build a context, apply migrations, ensure signing keys, run ``fn``, close."""
    async def go() -> T:
        ctx = build_context(load_settings())
        try:
            await migrate(ctx.engine)
            await ctx.keys.ensure(ctx.clock())
            return await fn(ctx)
        finally:
            await ctx.close()
    try:
        return asyncio.run(go())
    except ApiError as exc:
        typer.echo(json.dumps({"status": "ERROR", "error": exc.code, "message": exc.message}), err=True)
        raise typer.Exit(2) from None
    except KeyturnError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def output(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json or text is None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(text + "\n")


async def require_user(ctx: Context, ref: str) -> User:
    user = await find_user(ctx, ref)
    if user is None:
        raise ApiError(404, "NOT_FOUND", f"no user {ref}")
    return user


def user_principal(user: User) -> Principal:
    return Principal(kind="user", id=user.id)
