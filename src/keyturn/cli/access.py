"""CLI: accounts, members, API keys (the operator's hand; same use cases and wire shapes as the HTTP API)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from keyturn.cli.common import output, require_user, run
from keyturn.services import accounts as accounts_service
from keyturn.services import api_keys as api_keys_service
from keyturn.services.context import Services
from keyturn.wire.accounts import AccountOut, MemberOut
from keyturn.wire.api_keys import ApiKeyOut

accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
members_app = typer.Typer(help="Manage account members.", no_args_is_help=True)
api_keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Print JSON.")


@accounts_app.command("create")
def accounts_create(
    name: str = typer.Option(..., "--name", help="Account name."),
    type: str = typer.Option("org", "--type", help="org or individual."),
    owner: str = typer.Option(None, "--owner", help="Email, phone or id of the user made account-owner."),
    test: bool = typer.Option(False, "--test", help="A test account (its API keys start kt_test_)."),
    flag: list[str] = typer.Option([], "--flag", help="A flag the account carries (repeatable)."),  # noqa: B006
    subscription: list[str] = typer.Option(  # noqa: B006
        [], "--subscription", help="A subscription the account has (repeatable)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Create an account (optionally with its owner); prints the account."""

    async def go(ctx: Services) -> AccountOut:
        owner_id = (await require_user(ctx, owner)).id if owner else None
        account = await accounts_service.create_account(
            ctx,
            None,
            name=name,
            type=type,
            test=test,
            owner_id=owner_id,
            flags=tuple(flag),
            subscriptions=tuple(subscription),
        )
        return AccountOut.of(account)

    data = run(go)
    output(data, as_json, f"account {data.id} {data.name} ({data.type})")


@accounts_app.command("flag")
def accounts_flag(
    account: str = typer.Option(..., "--account", help="Account id (a user's individual account: users create)."),
    flag: list[str] = typer.Option([], "--flag", help="Add this flag (repeatable)."),  # noqa: B006
    remove_flag: list[str] = typer.Option([], "--remove-flag", help="Remove this flag (repeatable)."),  # noqa: B006
    subscription: list[str] = typer.Option(  # noqa: B006
        [], "--subscription", help="Add this subscription (repeatable)."
    ),
    remove_subscription: list[str] = typer.Option(  # noqa: B006
        [], "--remove-subscription", help="Remove this subscription (repeatable)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Add or remove an account's flags and subscriptions (what the policy's requirements check, e.g. Centrapay's
    trusted-user flag or external-asset-issuer subscription); prints the account. Audited."""

    async def go(ctx: Services) -> AccountOut:
        return AccountOut.of(await accounts_service.flag_account(
            ctx, account, flags=tuple(flag), remove_flags=tuple(remove_flag),
            subscriptions=tuple(subscription), remove_subscriptions=tuple(remove_subscription)))

    data = run(go)
    output(data, as_json, f"account {data.id}: flags {' '.join(data.flags) or '-'}, "
                          f"subscriptions {' '.join(data.subscriptions) or '-'}")


@members_app.command("add")
def members_add(
    account: str = typer.Option(..., "--account", help="Account id."),
    user: str = typer.Option(..., "--user", help="Email, phone or id of the user."),
    role: str = typer.Option(..., "--role", help="Role on the account."),
    as_json: bool = JSON_OPT,
) -> None:
    """Add a member to an account with a role."""

    async def go(ctx: Services) -> MemberOut:
        return MemberOut.of(await accounts_service.add_member(ctx, None, account, user, role))

    data = run(go)
    output(data, as_json, f"{data.userId} is {data.role} of {account}")


@members_app.command("list")
def members_list(
    account: str = typer.Option(..., "--account", help="Account id."), as_json: bool = JSON_OPT
) -> None:
    """List an account's members."""

    async def go(ctx: Services) -> list[MemberOut]:
        return [MemberOut.of(m) for m in await accounts_service.list_members(ctx, None, account)]

    data = run(go)
    output(data, as_json, "\n".join(f"{m.userId} {m.email} {m.role}" for m in data))


@api_keys_app.command("create")
def api_keys_create(
    account: str = typer.Option(..., "--account", help="Account id."),
    name: str = typer.Option(..., "--name", help="Key name (unique on the account)."),
    role: str = typer.Option(..., "--role", help="Role of the key on the account."),
    rate_limit: str = typer.Option(None, "--rate-limit", help="Requests allowed: N/S, e.g. 100/60 (none: no quota)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Create an API key; prints the same JSON as the HTTP API, with the secret (shown once)."""

    async def go(ctx: Services) -> ApiKeyOut:
        issued = await api_keys_service.create(ctx, None, account, name, role, rate_limit)
        return ApiKeyOut.of(issued.record, issued.secret)

    data = run(go)
    output(data, as_json, data.secret)


@api_keys_app.command("import")
def api_keys_import(
    account: str = typer.Option(..., "--account", help="Account id."),
    name: str = typer.Option(..., "--name", help="Key name (unique on the account)."),
    role: str = typer.Option(..., "--role", help="Role of the key on the account."),
    file: Path = typer.Option(  # noqa: B008
        None, "--file", help="Read the key from this file (default: standard input); never from the command line."
    ),
    rate_limit: str = typer.Option(None, "--rate-limit", help="Requests allowed: N/S, e.g. 100/60 (none: no quota)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Import an API key another service issued (its own format: 20-256 characters of A-Z a-z 0-9 . _ ~ + / = -,
    at least 128 bits), read from standard input or --file; prints the key's record, never the key."""
    try:
        raw = file.read_text(encoding="utf-8") if file is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read the key: {exc.__class__.__name__}", param_hint="--file") from None
    secret = raw.strip()

    async def go(ctx: Services) -> ApiKeyOut:
        return ApiKeyOut.of(await api_keys_service.import_key(ctx, None, account, name, role, secret, rate_limit))

    data = run(go)
    output(data, as_json, f"imported {data.name} ({data.role}) on {account}")


def _set_enabled(account: str, name: str, enabled: bool, as_json: bool) -> None:
    async def go(ctx: Services) -> ApiKeyOut:
        return ApiKeyOut.of(await api_keys_service.set_enabled(ctx, None, account, name, enabled))

    data = run(go)
    output(data, as_json, f"{name} {'enabled' if enabled else 'disabled'}")


@api_keys_app.command("disable")
def api_keys_disable(
    account: str = typer.Option(..., "--account", help="Account id."),
    name: str = typer.Option(..., "--name", help="Key name."),
    as_json: bool = JSON_OPT,
) -> None:
    """Disable an API key (takes effect within client_cache_ttl seconds on every worker)."""
    _set_enabled(account, name, False, as_json)


@api_keys_app.command("enable")
def api_keys_enable(
    account: str = typer.Option(..., "--account", help="Account id."),
    name: str = typer.Option(..., "--name", help="Key name."),
    as_json: bool = JSON_OPT,
) -> None:
    """Enable a disabled API key."""
    _set_enabled(account, name, True, as_json)


@api_keys_app.command("limit")
def api_keys_limit(
    account: str = typer.Option(..., "--account", help="Account id."),
    name: str = typer.Option(..., "--name", help="Key name."),
    rate_limit: str = typer.Argument(..., help="N/S (at most N requests in any S seconds, e.g. 100/60), or none."),
    as_json: bool = JSON_OPT,
) -> None:
    """Set or remove an API key's request quota (429 with Retry-After past it; shared through Redis)."""

    async def go(ctx: Services) -> ApiKeyOut:
        return ApiKeyOut.of(await api_keys_service.set_rate_limit(ctx, None, account, name, rate_limit))

    data = run(go)
    output(data, as_json, f"{name} rate limit: {data.rateLimit or 'none'}")


@api_keys_app.command("list")
def api_keys_list(
    account: str = typer.Option(..., "--account", help="Account id."), as_json: bool = JSON_OPT
) -> None:
    """List an account's API keys (no secrets)."""

    async def go(ctx: Services) -> list[ApiKeyOut]:
        return [ApiKeyOut.of(k) for k in await api_keys_service.list_keys(ctx, None, account)]

    data = run(go)
    output(data, as_json, "\n".join(f"{k.name} {k.role} {'on' if k.enabled else 'off'}" for k in data))


def register(app: typer.Typer) -> None:
    """Add the access-model command groups."""
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(members_app, name="members")
    app.add_typer(api_keys_app, name="api-keys")
