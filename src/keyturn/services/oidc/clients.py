"""Registering OIDC relying parties (the operator's CLI and the management API share this).

Redirect URIs and post-logout redirect URIs are matched exactly later, so they are checked
here (https, loopback http, or a reverse-domain private-use scheme; no fragment, no wildcard).
Allowed CORS origins default to the origins of the web redirect URIs. Every string is checked for NUL,
control characters and lone surrogates first (keyturn.core.text): the CLI calls this directly.
Use cases return records; the wire shape is ``keyturn.wire.oidc_clients``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from keyturn.core.errors import ApiError, InvalidScope
from keyturn.core.jose import CLIENT_ID_TOKEN_ALGS
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, Client, Issued
from keyturn.core.origins import is_loopback_hostname
from keyturn.core.scopes import parse_scope
from keyturn.core.secrets import digest, new_client_id, new_client_secret
from keyturn.core.text import check_text
from keyturn.services import fapi
from keyturn.services.context import Services
from keyturn.services.oidc.metadata import KEYLESS_METHODS, ClientMetadata, credential_tls
from keyturn.services.oidc.request import OIDC_SCOPES
from keyturn.services.redirects import validate_redirect_uris
from keyturn.storage import audit
from keyturn.storage import clients as clients_repo

DEFAULT_SCOPE = " ".join(OIDC_SCOPES)


def validate_origin(origin: str) -> str:
    if not isinstance(origin, str) or len(origin) > 2000:
        raise ApiError(400, "INVALID_ORIGIN", "an origin is a string of at most 2000 characters")
    check_text("allowed_origins", origin)
    try:
        parts = urlsplit(origin)
        _ = parts.port
    except ValueError:  # "http://[::1", a port out of range
        raise ApiError(400, "INVALID_ORIGIN", "origin is malformed") from None
    if (parts.scheme not in ("https", "http") or not parts.hostname or parts.path or parts.query
            or parts.fragment or parts.username or origin.endswith("/")):
        raise ApiError(400, "INVALID_ORIGIN", f"origin {origin[:100]!r} must be scheme://host[:port]")
    if parts.scheme == "http" and not is_loopback_hostname(parts.hostname):
        raise ApiError(400, "INVALID_ORIGIN", "http origins are allowed only for localhost/127.0.0.1")
    return origin


def default_origins(redirect_uris: list[str]) -> list[str]:
    out: list[str] = []
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme in ("https", "http"):
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in out:
                out.append(origin)
    return out


async def create(ctx: Services, *, name: str, public: bool, redirect_uris: list[str],
                 post_logout_redirect_uris: list[str] | None = None, origins: list[str] | None = None,
                 first_party: bool = False, scope: str | None = None, refresh_tokens: bool = True,
                 id_token_alg: str | None = None, revoke_refresh_on_logout: bool = True,
                 dpop_bound_access_tokens: bool = False, require_pushed_authorization_requests: bool = False,
                 tls_client_auth_subject_dn: str | None = None, tls_bound_access_tokens: bool = False,
                 fapi2: bool = False, actor: str = "operator") -> Issued[Client]:
    """Register a relying party; a confidential client's secret is in the answer only (a public one has none).
    ``tls_client_auth_subject_dn``: it authenticates with tls_client_auth (RFC 8705 §2.1), no secret;
    ``tls_bound_access_tokens``: its access tokens are bound to its certificate (§3)."""
    if not isinstance(name, str):
        raise ApiError(400, "INVALID_REQUEST", "name is required (at most 200 characters)")
    tls: dict[str, Any] = {"tls_client_certificate_bound_access_tokens": True} if tls_bound_access_tokens else {}
    if tls_client_auth_subject_dn is not None:
        if public:
            raise ApiError(400, "INVALID_CLIENT_METADATA", "a public client does not authenticate: no subject DN")
        tls.update(credential_tls({"token_endpoint_auth_method": "tls_client_auth",
                                   "tls_client_auth_subject_dn": tls_client_auth_subject_dn}))
    return await create_from(ctx, ClientMetadata(
        auth_method="tls_client_auth" if tls_client_auth_subject_dn is not None else None, info=tls,
        name=name, public=public, redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris or [], origins=origins, first_party=first_party,
        scope=scope, refresh_tokens=refresh_tokens, id_token_alg=id_token_alg,
        revoke_refresh_on_logout=revoke_refresh_on_logout, dpop_bound_access_tokens=dpop_bound_access_tokens,
        require_pushed_authorization_requests=require_pushed_authorization_requests, fapi2=fapi2), actor=actor)


async def create_from(ctx: Services, meta: ClientMetadata, *, actor: str = "operator") -> Issued[Client]:
    """Register a relying party from parsed metadata (keyturn.services.oidc.metadata): the management API."""
    now = ctx.clock()
    client, secret = build(meta, client_id=new_client_id(), now=now, fapi2_default=ctx.settings.fapi2)
    async with ctx.engine.begin() as conn:
        await clients_repo.insert(conn, client)
        await audit.record(conn, "oidc_client.created", at=now, actor=actor, client_id=client.client_id,
                           public=client.is_public, first_party=client.first_party)
    ctx.origins.invalidate()  # this worker allows the new origins at once
    return Issued(client, secret)


def build(meta: ClientMetadata, *, client_id: str, now: float, scopes_supported: frozenset[str] | None = None,
          owner_id: str | None = None, registration_digest: str | None = None,
          fapi2_default: bool = False) -> tuple[Client, str | None]:
    """The record ``meta`` asks for, every value checked, and a confidential client's new secret (not stored).
    ``scopes_supported``: the only scopes it may ask for (dynamic registration), else any scope tokens.
    ``fapi2_default``: ``KEYTURN_FAPI2``, every OIDC client is held to the FAPI 2.0 profile (as one with
    ``fapi2``): non-conforming metadata is refused, PAR is required (keyturn.services.fapi)."""
    name = meta.name
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ApiError(400, "INVALID_REQUEST", "name is required (at most 200 characters)")
    name = check_text("name", name).strip()
    for field, values in (("redirect_uris", meta.redirect_uris),
                          ("post_logout_redirect_uris", meta.post_logout_redirect_uris),
                          ("allowed_origins", meta.origins)):
        for value in values or ():
            if isinstance(value, str):
                check_text(field, value)
    scope = meta.scope
    if scope is not None:
        if not isinstance(scope, str):
            raise ApiError(400, "INVALID_SCOPE", "scope must be a string")
        check_text("scope", scope)
    uris = validate_redirect_uris(meta.redirect_uris)
    if not uris:
        raise ApiError(400, "INVALID_REDIRECT_URI", "at least one redirect URI is required")
    logout_uris = validate_redirect_uris(meta.post_logout_redirect_uris or [])
    allowed = [validate_origin(o) for o in meta.origins] if meta.origins else default_origins(uris)
    try:
        scopes = parse_scope(scope if scope is not None else DEFAULT_SCOPE)
    except InvalidScope:
        raise ApiError(400, "INVALID_SCOPE", "scope must be space-separated scope tokens") from None
    if scopes_supported is not None:
        unknown = [s for s in scopes if s not in scopes_supported]
        if unknown:
            raise ApiError(400, "INVALID_CLIENT_METADATA", f"scope {unknown[0][:100]!r} is not supported here "
                           "(see scopes_supported in the server's metadata)")
    if meta.id_token_alg is not None and meta.id_token_alg not in CLIENT_ID_TOKEN_ALGS:
        raise ApiError(400, "INVALID_REQUEST",
                       f"id_token_signed_response_alg must be one of {', '.join(CLIENT_ID_TOKEN_ALGS)}")
    fapi2 = meta.fapi2 or fapi2_default
    if fapi2:
        fapi.check_metadata(public=meta.public, auth_method=meta.auth_method, id_token_alg=meta.id_token_alg,
                            signing_alg=meta.info.get("token_endpoint_auth_signing_alg"))
    # private_key_jwt: the client's keys authenticate it; (self_signed_)tls_client_auth (RFC 8705 §2): its
    # certificate.
    # Neither has a secret.
    secret = None if meta.public or meta.auth_method in KEYLESS_METHODS \
        else new_client_secret()
    grant_types = (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN) if meta.refresh_tokens else (
        GRANT_AUTHORIZATION_CODE,)
    client = Client(
        client_id=client_id, kind="oidc", name=name, owner_id=owner_id, account_id=None, role=None,
        secret_digest=digest(secret) if secret else None, prev_secret_digest=None, prev_secret_expires_at=None,
        is_public=meta.public, public_id=None, domain=None, scope=" ".join(scopes), refresh=None, status=0,
        grant_types=grant_types, redirect_uris=tuple(uris), post_logout_redirect_uris=tuple(logout_uris),
        allowed_origins=tuple(allowed), first_party=meta.first_party, refresh_enabled=meta.refresh_tokens,
        id_token_alg=meta.id_token_alg, revoke_refresh_on_logout=meta.revoke_refresh_on_logout, expiration=None,
        created_at=now, updated_at=now, registered_metadata=meta.registered(),
        registration_digest=registration_digest,
        dpop_bound_access_tokens=meta.dpop_bound_access_tokens,
        require_pushed_authorization_requests=meta.require_pushed_authorization_requests or fapi2,
        fapi2=meta.fapi2)
    return client, secret


async def list_all(ctx: Services) -> list[Client]:
    async with ctx.engine.connect() as conn:
        return await clients_repo.list_by_kind(conn, "oidc")
