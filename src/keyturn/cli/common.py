"""Helpers shared by the CLI commands: one context per command, JSON output, clean errors.

A command prints what the HTTP API answers for the same use case: the wire shape of ``keyturn.wire``
(:func:`output`), and an ``ApiError`` as the API's error shape on stderr.

An operator's mistake is one line on stderr and exit status 2, never a traceback: invalid
settings name the variable (``error: KEYTURN_ENVIRONMENT: must be 'production' or 'development'
(got '')``), and a database that cannot be opened names the target (host:port or file, never a
password), ``KEYTURN_DATABASE_URL`` and what to check. Every command goes through
:class:`KeyturnGroup` (the Typer app's click group), so this holds for all of them, ``serve`` too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from typer.core import TyperGroup

from keyturn.core.errors import ApiError, KeyturnError
from keyturn.core.models import Principal, User
from keyturn.services.context import Services
from keyturn.services.database import DatabaseUnavailable, open_services
from keyturn.services.users import find_user
from keyturn.settings import Settings, load_settings
from keyturn.wire.common import ErrorOut, plain

T = TypeVar("T")
EXIT_USAGE = 2
_SECRET_WORDS = ("secret", "password", "url", "token")  # never echoed back (a URL may hold a password)


class CliError(Exception):
    """An operator error: printed as one ``error: ...`` line, exit status 2."""


class KeyturnGroup(TyperGroup):
    """The one place where an operator error becomes one line and exit status 2."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except CliError as exc:
            line = str(exc)
        except ValidationError as exc:
            line = settings_error_line(exc)
        typer.echo(f"error: {line}", err=True)
        raise typer.Exit(EXIT_USAGE)


def settings_error_line(exc: ValidationError) -> str:
    """``KEYTURN_<FIELD>: <what is wrong> (got <value>)`` for each error, on one line."""
    parts = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        msg = msg.replace("Input should be", "must be", 1)
        loc = err.get("loc") or ()
        field = str(loc[0]) if loc else msg.split(" ", 1)[0]  # a model check's message starts with its field
        if field not in Settings.model_fields:
            parts.append(msg)
            continue
        got = err.get("input")
        if not loc and isinstance(got, dict):
            got = got.get(field)  # a model check sees every value: show its own field's
        shown = "" if any(w in field for w in _SECRET_WORDS) or not isinstance(got, str | int | float) \
            else f" (got {str(got)[:60]!r})"
        if not loc:
            msg = msg.split(" ", 1)[1] if " " in msg else msg
        parts.append(f"KEYTURN_{field.upper()}: {msg}{shown}")
    return "; ".join(parts) or "invalid settings"


def load_cli_settings(*, warn: bool = True) -> Settings:
    """:func:`keyturn.settings.load_settings`, with every way it can fail as a :class:`CliError`."""
    try:
        return load_settings(warn=warn)
    except ValidationError as exc:
        raise CliError(settings_error_line(exc)) from None
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        name = os.environ.get("KEYTURN_SETTINGS_FILE", "")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"KEYTURN_SETTINGS_FILE: cannot read {name!r}: {reason}") from None


async def open_context(settings: Settings) -> Services:
    """Build the context and prove the database answers; a failure is one :class:`CliError` line."""
    try:
        return await open_services(settings)
    except DatabaseUnavailable as exc:
        raise CliError(str(exc)) from None


def run(fn: Callable[[Services], Awaitable[T]], settings: Settings | None = None) -> T:
    """Build a context, apply migrations, ensure signing keys, run ``fn``, close."""
    async def go() -> T:
        ctx = await open_context(settings or load_cli_settings())
        try:
            pending = await ctx.pending_migrations()
            if pending:
                logging.getLogger("keyturn").info("applying migrations: %s", ", ".join(pending))
            await ctx.start(run_migrations=True, notices=False)  # a command caches nothing: no subscriber
            return await fn(ctx)
        finally:
            await ctx.close()
    try:
        return asyncio.run(go())
    except ApiError as exc:
        typer.echo(json.dumps(plain(ErrorOut.of(exc))), err=True)
        raise typer.Exit(2) from None
    except KeyturnError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def output(data: BaseModel | Sequence[BaseModel], as_json: bool, text: str | None = None) -> None:
    """``--json`` (or no ``text``): the wire shape as JSON, as the HTTP API sends it; else ``text``."""
    if as_json or text is None:
        sys.stdout.write(json.dumps(plain(data), indent=2) + "\n")
    else:
        sys.stdout.write(text + "\n")


async def require_user(ctx: Services, ref: str) -> User:
    user = await find_user(ctx, ref)
    if user is None:
        raise ApiError(404, "NOT_FOUND", f"no user {ref}")
    return user


def user_principal(user: User) -> Principal:
    return Principal(kind="user", id=user.id)
