"""CLI: OIDC relying parties (clients); prints the management API's shape (keyturn.wire.oidc_clients)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from keyturn.cli.common import output, run
from keyturn.core.durations import parse_duration
from keyturn.core.jose import CLIENT_ID_TOKEN_ALGS
from keyturn.services.context import Services
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.oidc import metadata as client_metadata
from keyturn.services.oidc import registration
from keyturn.wire.oidc_clients import ClientOut
from keyturn.wire.registration import InitialTokenOut

ID_TOKEN_ALG_HELP = (f"ID-token signing algorithm (id_token_signed_response_alg): {', '.join(CLIENT_ID_TOKEN_ALGS)}; "
                     "default KEYTURN_ID_TOKEN_ALG (RS256).")
clients_app = typer.Typer(help="Manage OpenID Connect clients (relying parties).", no_args_is_help=True)


@clients_app.command("create")
def clients_create(
    name: str = typer.Option(..., "--name", help="Name shown on the login and consent pages."),
    public: bool = typer.Option(False, "--public", help="Public client (SPA, mobile): PKCE, no secret."),
    confidential: bool = typer.Option(False, "--confidential", help="Confidential client: gets a secret."),
    redirect_uri: list[str] = typer.Option(..., "--redirect-uri", help="Exact redirect URI (repeatable)."),
    post_logout_redirect_uri: list[str] = typer.Option(  # noqa: B006
        [], "--post-logout-redirect-uri", help="Exact post-logout redirect URI (repeatable)."),
    origin: list[str] = typer.Option(  # noqa: B006
        [], "--origin", help="Allowed CORS origin (repeatable); default: the redirect URIs' origins."),
    first_party: bool = typer.Option(False, "--first-party", help="Skip the consent page."),
    scope: str = typer.Option(None, "--scope", help="Scopes the client may request (default: "
                              "openid email phone profile offline_access)."),
    no_refresh: bool = typer.Option(False, "--no-refresh-tokens", help="Issue no refresh tokens."),
    keep_refresh_on_logout: bool = typer.Option(False, "--keep-refresh-on-logout",
                                                help="Do not revoke the session's refresh tokens at logout."),
    id_token_alg: str = typer.Option(None, "--id-token-alg", help=ID_TOKEN_ALG_HELP),
    dpop_bound: bool = typer.Option(False, "--dpop-bound-access-tokens",
                                    help="Require a DPoP proof at every token request (RFC 9449 §5.2)."),
    require_par: bool = typer.Option(
        False, "--require-pushed-authorization-requests",
        help="Its authorization requests must be pushed to POST /par first (RFC 9126; FAPI 2.0)."),
    auth_method: str = typer.Option(
        None, "--token-endpoint-auth-method",
        help="client_secret_basic, client_secret_post, private_key_jwt (with --jwks or --jwks-uri; no secret), "
             "self_signed_tls_client_auth (with --jwks whose keys carry its certificates as x5c; no secret; "
             "RFC 8705 §2.2) or none."),
    jwks_file: Path = typer.Option(
        None, "--jwks", help='private_key_jwt: a JSON file holding {"keys": [...]}, the client\'s public keys; '
                             "self_signed_tls_client_auth: its certificates (x5c) on those keys.",
        exists=True, dir_okay=False, readable=True),
    jwks_uri: str = typer.Option(
        None, "--jwks-uri", help="private_key_jwt: the https URL where the client publishes its public keys "
        "(instead of --jwks; its host must be on KEYTURN_JWKS_URI_ALLOWED_HOSTS)."),
    auth_signing_alg: str = typer.Option(
        None, "--token-endpoint-auth-signing-alg",
        help="private_key_jwt: the one alg its assertions use (default: any of ES256, ES384, PS256, PS384, "
             "EdDSA; RS256 only this way)."),
    tls_subject_dn: str = typer.Option(
        None, "--tls-client-auth-subject-dn",
        help="Authenticate with its client certificate, whose subject is this RFC 4514 DN (tls_client_auth, "
             "RFC 8705 §2.1; needs --confidential and KEYTURN_MTLS_CERT_HEADER); no secret."),
    tls_bound: bool = typer.Option(
        False, "--tls-client-certificate-bound-access-tokens",
        help="Bind its access tokens to its client certificate (cnf.x5t#S256, RFC 8705 §3)."),
    fapi2: bool = typer.Option(
        False, "--fapi2", help="Hold it to the FAPI 2.0 Security Profile: --confidential with private_key_jwt or "
        "tls_client_auth, PAR required, DPoP- or certificate-bound tokens, PS256/ES256/EdDSA (docs/fapi2.md)."),
    as_json: bool = typer.Option(True, "--json/--text", help="Print JSON (default)."),
) -> None:
    """Register a client; prints JSON with client_id (and client_secret, shown once, if confidential)."""
    if public == confidential:
        raise typer.BadParameter("give exactly one of --public or --confidential")
    if auth_method is not None or jwks_file is not None or jwks_uri is not None or auth_signing_alg is not None:
        if auth_method is None or (auth_method == "none") != public:
            raise typer.BadParameter("--token-endpoint-auth-method is required with --jwks or --jwks-uri, and is "
                                     "none exactly for a --public client")
        body: dict[str, Any] = {
            "name": name, "redirect_uris": list(redirect_uri),
            "post_logout_redirect_uris": list(post_logout_redirect_uri),
            "allowed_origins": list(origin) or None, "first_party": first_party, "scope": scope,
            "refresh_tokens": not no_refresh, "revoke_refresh_on_logout": not keep_refresh_on_logout,
            "id_token_signed_response_alg": id_token_alg, "dpop_bound_access_tokens": dpop_bound,
            "require_pushed_authorization_requests": require_par, "token_endpoint_auth_method": auth_method,
            "jwks": json_file(jwks_file) if jwks_file is not None else None, "jwks_uri": jwks_uri,
            "token_endpoint_auth_signing_alg": auth_signing_alg, "tls_client_auth_subject_dn": tls_subject_dn,
            "tls_client_certificate_bound_access_tokens": tls_bound or None, "fapi2": fapi2}

        async def by_metadata(ctx: Services) -> ClientOut:
            meta = client_metadata.parse(body, dynamic=False, jwks_uri_hosts=ctx.settings.jwks_uri_allowed_hosts)
            issued = await oidc_clients.create_from(ctx, meta)
            return ClientOut.of(issued.record, issued.secret)
        out = run(by_metadata)
        output(out, as_json, f"client_id={out.client_id}")
        return

    async def go(ctx: Services) -> ClientOut:
        issued = await oidc_clients.create(
            ctx, name=name, public=public, redirect_uris=list(redirect_uri),
            post_logout_redirect_uris=list(post_logout_redirect_uri), origins=list(origin) or None,
            first_party=first_party, scope=scope, refresh_tokens=not no_refresh, id_token_alg=id_token_alg,
            revoke_refresh_on_logout=not keep_refresh_on_logout, dpop_bound_access_tokens=dpop_bound,
            require_pushed_authorization_requests=require_par, tls_client_auth_subject_dn=tls_subject_dn,
            tls_bound_access_tokens=tls_bound, fapi2=fapi2)
        return ClientOut.of(issued.record, issued.secret)
    data = run(go)
    output(data, as_json, f"client_id={data.client_id}")


def json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise typer.BadParameter(f"{path} is not a readable JSON file") from None


@clients_app.command("list")
def clients_list(as_json: bool = typer.Option(True, "--json/--text")) -> None:
    """List OIDC clients (no secrets)."""
    async def go(ctx: Services) -> list[ClientOut]:
        return [ClientOut.of(c) for c in await oidc_clients.list_all(ctx)]
    data = run(go)
    output(data, as_json, "\n".join(f"{c.client_id} {c.name} {c.type}" for c in data))


registration_app = typer.Typer(help="RFC 7591 dynamic client registration (KEYTURN_REGISTRATION).",
                               no_args_is_help=True)
initial_token_app = typer.Typer(help="Initial access tokens: who may register a client at /register.",
                                no_args_is_help=True)
registration_app.add_typer(initial_token_app, name="initial-token")


@initial_token_app.command("issue")
def initial_token_issue(
    expires: str = typer.Option(None, "--expires", help="Lifetime (30m, 12h, 1d, 2w); default: never expires."),
    uses: int = typer.Option(None, "--uses", min=1, help="Registrations it allows; default: unlimited."),
    as_json: bool = typer.Option(True, "--json/--text", help="Print JSON (default)."),
) -> None:
    """Issue an initial access token; prints it once (only its digest is kept)."""
    try:
        lifetime = parse_duration(expires) if expires is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires") from None

    async def go(ctx: Services) -> InitialTokenOut:
        issued = await registration.issue_initial_token(ctx, expires_in=lifetime, uses=uses)
        return InitialTokenOut.of(issued.record, issued.secret)
    data = run(go)
    output(data, as_json, data.token)


@initial_token_app.command("list")
def initial_token_list(as_json: bool = typer.Option(True, "--json/--text")) -> None:
    """List initial access tokens (never the tokens themselves)."""
    async def go(ctx: Services) -> list[InitialTokenOut]:
        return [InitialTokenOut.of(t) for t in await registration.list_initial_tokens(ctx)]
    data = run(go)
    output(data, as_json, "\n".join(f"{t.id} uses_left={t.uses_left} expires_at={t.expires_at} "
                                     f"revoked_at={t.revoked_at}" for t in data))


@initial_token_app.command("revoke")
def initial_token_revoke(token_id: str = typer.Argument(..., help="The id `issue` printed.")) -> None:
    """Revoke an initial access token: it registers no more clients (those it registered stay)."""
    async def go(ctx: Services) -> None:
        await registration.revoke_initial_token(ctx, token_id)
    run(go)


def register(app: typer.Typer) -> None:
    """Add the OIDC command groups."""
    app.add_typer(clients_app, name="clients")
    app.add_typer(registration_app, name="registration")
