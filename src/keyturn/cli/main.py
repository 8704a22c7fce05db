"""``keyturn serve | migrate | purge | users | tokens | credentials | keys`` (and the access/OIDC groups)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import typer

from keyturn import metrics
from keyturn.cli import access as access_cli
from keyturn.cli import audit as audit_cli
from keyturn.cli import oidc as oidc_cli
from keyturn.cli.common import KeyturnGroup, load_cli_settings, output, require_user, run, user_principal
from keyturn.core.jose import ALLOWED_ALGS
from keyturn.core.policy import PolicyError
from keyturn.logconfig import configure_logging
from keyturn.services import credentials as credentials_service
from keyturn.services.context import Services
from keyturn.services.oidc import login
from keyturn.services.policy_file import load_policy
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.services.users import create_user
from keyturn.settings import warn_development
from keyturn.wire.credentials import CredentialEnvelope, CredentialOut
from keyturn.wire.keys import KeyRotatedOut, SigningKeyOut
from keyturn.wire.tokens import AccessTokenOut
from keyturn.wire.users import UnlockedOut, UserCreatedOut

log = logging.getLogger("keyturn.cli")
# KeyturnGroup: an operator error (settings, database) is one line and exit status 2 for every
# command; no rich tracebacks (pretty_exceptions_enable=False) for the rest.
app = typer.Typer(help="Keyturn: OAuth 2.0 / OpenID Connect authorization server for payment platforms.",
                  no_args_is_help=True, add_completion=False, cls=KeyturnGroup, pretty_exceptions_enable=False)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Mint tokens as the operator.", no_args_is_help=True)
credentials_app = typer.Typer(help="Manage credentials (client-credentials clients).", no_args_is_help=True)
keys_app = typer.Typer(help="Manage signing keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(credentials_app, name="credentials")
app.add_typer(keys_app, name="keys")
access_cli.register(app)
oidc_cli.register(app)
audit_cli.register(app)

JSON_OPT = typer.Option(False, "--json", help="Print JSON.")


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending database migrations."""
    async def go(ctx: Services) -> None:
        return None
    run(go)
    typer.echo("database is up to date")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Address to bind."),
          port: int = typer.Option(8000, help="Port to bind."),
          workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
          demo: bool = typer.Option(False, "--demo", help="Create demo data and print it.")) -> None:
    """Apply pending migrations, then serve HTTP with uvicorn (uvloop + httptools)."""
    import uvicorn

    # The issuer defaults to the address served (workers read the same environment).
    os.environ.setdefault("KEYTURN_ISSUER", f"http://{host}:{port}")
    if demo:  # the demo shows RFC 7591 registration too (an initial access token is printed)
        os.environ.setdefault("KEYTURN_REGISTRATION", "initial_token")
    settings = load_cli_settings(warn=False)
    configure_logging(settings)  # first, so that every line is in the configured format
    warn_development(settings)

    try:
        load_policy(settings)  # refuse an invalid policy file before any worker starts
    except PolicyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def prepare(ctx: Services) -> dict[str, Any] | None:
        if demo:
            from keyturn.services.demo import create_demo_data
            return await create_demo_data(ctx, f"http://{host}:{port}")
        return None

    demo_data = run(prepare, settings)  # migrations and signing keys first, as every command
    if demo_data is not None:
        typer.echo(json.dumps(demo_data, indent=2))

    if workers > 1:
        # Workers share one listening socket. libuv (under uvloop) accepts every pending
        # connection at once, so the first worker to wake takes most of a burst of new
        # connections and the others idle; one accept per wake-up spreads them (bench/README.md).
        os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
    metrics_dir = _metrics_dir(settings.metrics and workers > 1)

    # SIGTERM: uvicorn stops accepting, lets the requests in flight finish (at most shutdown_timeout
    # seconds), runs the app's shutdown (pending group-commit writes are committed), then raises the
    # signal again with the handler it found: this one, so the process exits 0 (also when the signal
    # comes before uvicorn serves). With --workers the supervisor does the same for each worker.
    signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(
            "keyturn.asgi:app_factory", factory=True, host=host, port=port, workers=workers,
            loop="uvloop", http="keyturn.web.server.protocol:HttpProtocol", ws="none",  # one write per response
            access_log=False,  # Keyturn writes its own (web/server/accesslog.py)
            log_config=None,  # uvicorn's lines go through Keyturn's logging (format, request ids, masking)
            timeout_graceful_shutdown=settings.shutdown_timeout,
            log_level=settings.log_level.lower(), proxy_headers=False, server_header=False)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(shared: bool) -> str | None:
    """With several workers, a fresh directory for their metric files (prometheus-client's multiprocess
    mode: one scrape of any worker sums them all); it is named in the environment the workers inherit,
    before they import anything, and removed when the server stops. One worker keeps them in memory."""
    if metrics.IGNORED_MULTIPROC_DIR is not None:
        log.warning("PROMETHEUS_MULTIPROC_DIR=%s is not a directory; ignored", metrics.IGNORED_MULTIPROC_DIR)
    if not shared:
        os.environ.pop(metrics.MULTIPROC_ENV, None)
        return None
    directory = tempfile.mkdtemp(prefix="keyturn-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = directory
    return directory


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM after uvicorn's graceful shutdown (or before it started serving): exit normally."""
    raise SystemExit(0)


@app.command("purge")
def purge_cmd(as_json: bool = JSON_OPT) -> None:
    """Delete expired rows once (what every serving process does each KEYTURN_PURGE_INTERVAL); print counts."""
    async def go(ctx: Services) -> dict[str, int]:
        return await ctx.purger.run_once()
    counts = run(go)
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        typer.echo("\n".join(f"{table}: {n}" for table, n in counts.items()))


@users_app.command("create")
def users_create(email: str = typer.Option(None, help="Email address."),
                 phone: str = typer.Option(None, help="Phone number: E.164 (+6421234567890), or as typed in "
                                                      "KEYTURN_DEFAULT_PHONE_REGION (07700 900123); stored in E.164."),
                 password: str = typer.Option(..., help="Password (min 8 characters).",
                                              envvar="KEYTURN_NEW_USER_PASSWORD"),
                 given_name: str = typer.Option(None), family_name: str = typer.Option(None),
                 username: str = typer.Option(None, help="preferred_username."),
                 verified: bool = typer.Option(False, "--verified", help="Mark email/phone verified."),
                 as_json: bool = JSON_OPT) -> None:
    """Create a user and their individual account."""
    async def go(ctx: Services) -> UserCreatedOut:
        user, account_id = await create_user(
            ctx, email=email, phone_number=phone, password=password, given_name=given_name,
            family_name=family_name, preferred_username=username,
            email_verified=verified and email is not None, phone_number_verified=verified and phone is not None)
        return UserCreatedOut.of(user, account_id)
    data = run(go)
    output(data, as_json, f"created user {data.id}")


@users_app.command("unlock")
def users_unlock(identifier: str = typer.Argument(..., help="Email or phone number as typed at login."),
                 address: str = typer.Option(None, help="Also clear this source address's own lock."),
                 as_json: bool = JSON_OPT) -> None:
    """Clear the sign-in locks of an identifier, from every address (audited as login.unlocked)."""
    async def go(ctx: Services) -> UnlockedOut:
        removed = await login.unlock(ctx, identifier, "operator", address)
        return UnlockedOut(identifier=identifier, removed=removed)
    data = run(go)
    output(data, as_json, f"unlocked {data.identifier} ({data.removed} throttle entries cleared)")


@tokens_app.command("issue")
def tokens_issue(user: str = typer.Option(..., help="Email, phone or id of the user."),
                 scope: str = typer.Option("", help="Scope of the token."),
                 lifetime: int = typer.Option(None, min=60, max=86400, help="Lifetime in seconds."),
                 as_json: bool = JSON_OPT) -> None:
    """Mint a user access token (the USER-TOKEN of seed 000)."""
    async def go(ctx: Services) -> AccessTokenOut:
        u = await require_user(ctx, user)
        token, expires_in = mint_access_token(ctx, sub=u.id, client_id=OPERATOR_CLIENT_ID, scope=scope,
                                              kind="user", now=ctx.clock(), lifetime=lifetime)
        return AccessTokenOut(access_token=token, expires_in=expires_in, scope=scope)
    data = run(go)
    output(data, as_json, data.access_token)


@credentials_app.command("create")
def credentials_create(user: str = typer.Option(..., help="Email, phone or id of the owner."),
                       name: str = typer.Option(..., help="Name, e.g. my.app.cu."),
                       domain: str = typer.Option(
                           None, help="Allowed-origin patterns and caller addresses (IP, CIDR), space-separated."),
                       scope: str = typer.Option(None, help="Scopes, space-separated."),
                       refresh: str = typer.Option(None, help="Refresh lifetime: 1d, 12h, or none."),
                       account: str = typer.Option(None, help="Account id (default: the user's own)."),
                       role: str = typer.Option(None, help="Role on the account (default merchant-terminal)."),
                       rate_limit: str = typer.Option(
                           None, "--rate-limit", help="Token requests allowed: N/S, e.g. 100/60 (none: no quota)."),
                       expiration: str = typer.Option(
                           None, help="When it expires: ISO 8601 with an offset, e.g. 2027-01-31T23:59:59Z."),
                       dpop_bound: bool = typer.Option(
                           False, "--dpop-bound-access-tokens",
                           help="Require a DPoP proof at every token request (RFC 9449 §5.2)."),
                       jwks_file: Path = typer.Option(
                           None, "--jwks", exists=True, dir_okay=False, readable=True,
                           help='private_key_jwt (RFC 7523): a JSON file holding {"keys": [...]}, the client\'s '
                                "public keys; the credential then has no secret."),
                       jwks_uri: str = typer.Option(
                           None, "--jwks-uri", help="private_key_jwt, instead of --jwks: the https URL where the "
                           "client publishes its keys (host on KEYTURN_JWKS_URI_ALLOWED_HOSTS)."),
                       as_json: bool = JSON_OPT) -> None:
    """Create a credential; prints the same JSON as POST /api/v2/credential (secret shown once). With --jwks or
    --jwks-uri it authenticates with private_key_jwt and has no secret."""
    if jwks_file is not None and jwks_uri is not None:
        raise typer.BadParameter("give --jwks or --jwks-uri, not both")
    keyed: dict[str, Any] = {}
    if jwks_file is not None or jwks_uri is not None:
        keyed = {"token_endpoint_auth_method": "private_key_jwt",
                 **({"jwks": oidc_cli.json_file(jwks_file)} if jwks_file is not None else {"jwks_uri": jwks_uri})}

    async def go(ctx: Services) -> CredentialEnvelope:
        u = await require_user(ctx, user)
        body: dict[str, Any] = {"name": name}
        for k, v in (("domain", domain), ("scope", scope), ("refresh", refresh), ("accountId", account),
                     ("role", role), ("rateLimit", rate_limit), ("expiration", expiration)):
            if v is not None:
                body[k] = v
        if dpop_bound:
            body["dpopBoundAccessTokens"] = True
        issued = await credentials_service.create(ctx, user_principal(u), {**body, **keyed}, by_operator=True)
        return CredentialEnvelope(data=CredentialOut.of(issued.record, issued.secret, rfc7591=bool(keyed)))
    data = run(go)
    output(data, as_json, f"client_id={data.data.username}\n" + (
        f"client_secret={data.data.password}" if data.data.password else "token_endpoint_auth_method=private_key_jwt"))


@credentials_app.command("limit")
def credentials_limit(client_id: str = typer.Argument(..., help="The credential's client_id (username)."),
                      rate_limit: str = typer.Argument(..., help="N/S (at most N token requests in any S seconds, "
                                                                 "e.g. 100/60), or none to remove the quota."),
                      as_json: bool = JSON_OPT) -> None:
    """Set or remove a credential's token-request quota (429 with Retry-After past it; shared through Redis)."""
    async def go(ctx: Services) -> CredentialEnvelope:
        client = await credentials_service.set_rate_limit(ctx, client_id, rate_limit)
        return CredentialEnvelope(data=CredentialOut.of(client))
    data = run(go)
    output(data, as_json, f"{data.data.username} rate limit: {data.data.rateLimit or 'none'}")


@credentials_app.command("expire")
def credentials_expire(client_id: str = typer.Argument(..., help="The credential's client_id (username)."),
                       expiration: str = typer.Argument(..., help="ISO 8601 date-time with an offset, in the future "
                                                                  "(e.g. 2027-01-31T23:59:59Z), or none."),
                       as_json: bool = JSON_OPT) -> None:
    """Set or remove a credential's expiration (past it: invalid_client, and its refresh tokens stop working)."""
    async def go(ctx: Services) -> CredentialEnvelope:
        client = await credentials_service.set_expiration(ctx, client_id, expiration)
        return CredentialEnvelope(data=CredentialOut.of(client))
    data = run(go)
    output(data, as_json, f"{data.data.username} expiration: {data.data.expiration or 'none'}")


@keys_app.command("rotate")
def keys_rotate(alg: str = typer.Option(None, help="Algorithm to rotate (default: the access-token one)."),
                as_json: bool = JSON_OPT) -> None:
    """Introduce a new signing key; the old one stays published until its tokens expire."""
    async def go(ctx: Services) -> KeyRotatedOut:
        a = alg or ctx.settings.access_token_alg
        if a not in ALLOWED_ALGS:
            raise typer.BadParameter(f"alg must be {', '.join(ALLOWED_ALGS[:-1])} or {ALLOWED_ALGS[-1]}")
        kid = await ctx.keys.rotate(a, ctx.clock())
        return KeyRotatedOut(kid=kid, alg=a, keys=_key_listing(ctx))
    data = run(go)
    output(data, as_json, f"new key {data.kid} ({data.alg})")


@keys_app.command("list")
def keys_list(as_json: bool = JSON_OPT) -> None:
    """List signing keys (public data only)."""
    async def go(ctx: Services) -> list[SigningKeyOut]:
        return _key_listing(ctx)
    data = run(go)
    output(data, as_json, "\n".join(f"{k.kid} {k.alg} signing={k.signing} published={k.published}" for k in data))


def _key_listing(ctx: Services) -> list[SigningKeyOut]:
    """Every stored signing key with whether it is in the JWKS and whether it signs now (no key material)."""
    now, ring = ctx.clock(), ctx.keys
    return [SigningKeyOut.of(k, published=ring.is_published(k, now), signing=ring.is_signing(k)) for k in ring.stored]


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
