"""One frozen, typed settings object for the whole server.

Values come from environment variables prefixed ``KEYTURN_`` and, optionally,
a TOML or dotenv file named by ``KEYTURN_SETTINGS_FILE`` (docs/settings.md lists every field). Nothing reads the
environment at import time: call :func:`load_settings` at the composition root.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from keyturn.core.headers import DEFAULT_ACCOUNT_HEADER, account_header_problem
from keyturn.core.jose import SigningAlg

log = logging.getLogger("keyturn.settings")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEYTURN_", frozen=True, extra="ignore")

    environment: Literal["production", "development"] = Field(
        "production",
        description="`development` allows an http issuer (loopback demos and tests) and warns loudly.",
    )
    issuer: str = Field(
        "http://127.0.0.1:8000",
        description="The issuer URL (`iss`); every endpoint in discovery derives from it, never from Host.",
    )
    audience: str | None = Field(
        None, description="`aud` of access tokens (the payments API's identifier); default: the issuer."
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./keyturn.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://user@host/db.",
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL connection pool size per worker.")
    database_timeout: float = Field(
        5.0, gt=0, le=60,
        description="Seconds the database part of a request may take in all: waiting for a pooled connection, "
                    "connecting, every statement and the commit of one transaction. Past it the request answers "
                    "503 temporarily_unavailable with Retry-After (a frozen or unreachable database never holds "
                    "a request longer). Migrations are not bounded.")
    write_batch: int = Field(
        64, ge=1, le=1000,
        description="Group commit: the most token-endpoint writes (grant issuance, refresh rotation, code exchange) "
                    "of concurrent requests one transaction carries (1: a transaction per request).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Python logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL)."
    )
    access_log: bool = Field(True, description=(
        "Write one line per HTTP request to standard output, in batches at most 0.25 s late "
        "(docs/deployment.md)."))
    log_format: Literal["text", "json"] = Field(
        "text", description=(
            "`text`: one line per record (`time level logger message rid=…`); `json`: one JSON object per line "
            "(time, level, logger, message, request_id; the access log's fields too). Tokens and secrets are "
            "masked in either (docs/deployment.md)."))
    max_in_flight: int = Field(
        128, ge=0, le=100_000, description=(
            "Requests one worker serves at once; beyond it a request is answered 503 with `Retry-After: 1` at "
            "once (load shedding; health, readiness and metrics paths exempt). 0: no limit (docs/deployment.md)."))
    shutdown_timeout: int = Field(
        20, ge=1, le=600, description=(
            "On SIGTERM: seconds to finish the requests in flight (no new connection is accepted) before they "
            "are cancelled; then pending writes are committed and the process exits 0."))
    metrics: bool = Field(True, description=(
        "Count requests, latencies, tokens issued, failures, pool use and cache results, and serve them in the "
        "Prometheus text format at `GET /metrics` (off: the counting layer is left out and `/metrics` is 404)."))
    metrics_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.0/8", "::1/128"), description=(
            "Addresses (CIDR blocks, comma- or space-separated) `GET /metrics` answers; any other address gets a "
            "404, as if there were no such endpoint (R104). Default: loopback only."))
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description=(
            "Addresses (CIDR blocks, comma- or space-separated) of the reverse proxies in front of Keyturn. Only "
            "when the TCP peer is one of them is `X-Forwarded-For` read: the client is its right-most address "
            "that is not one of them (each proxy must append the address it saw). Default: none, the peer is "
            "the client. Used by every per-address decision: a credential's address entries, login and "
            "client-authentication limits, the audit trail, the access log and `KEYTURN_METRICS_ALLOW` "
            "(docs/deployment.md)."))
    mtls_cert_header: str = Field("", description=(
        "mTLS (RFC 8705) behind a TLS-terminating proxy: the request header the proxy forwards the verified "
        "client certificate in (nginx: `proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;`, a "
        "URL-encoded PEM; base64 DER is read too). Read only when the TCP peer is one of "
        "`KEYTURN_TRUSTED_PROXIES`, never from a direct client. The proxy verifies the chain: Keyturn trusts it "
        "(docs/fapi2.md). Default: empty, mTLS off (`tls_client_auth` and certificate-bound tokens not offered)."))
    mtls_verify_header: str = Field("", description=(
        "mTLS: the request header the proxy forwards its verification result of the client certificate in "
        "(nginx: `proxy_set_header X-SSL-Client-Verify $ssl_client_verify;`), read only from "
        "`KEYTURN_TRUSTED_PROXIES` like `KEYTURN_MTLS_CERT_HEADER`. When set, `tls_client_auth` needs its value "
        "`SUCCESS` (the chain verified), so the proxy may forward unverified certificates (nginx "
        "`ssl_verify_client optional_no_ca`) and `self_signed_tls_client_auth` (RFC 8705 §2.2, matched by the "
        "whole certificate) is offered. Default: empty, the proxy must verify every certificate it forwards "
        "(`ssl_verify_client on` or `optional`) and self-signed clients are not served (docs/fapi2.md)."))
    jwks_uri_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description=(
            "private_key_jwt: the hosts a client's `jwks_uri` may name (comma- or space-separated; `host` for "
            "port 443, else `host:port`; exact match, no wildcard). Keyturn fetches only these, over https, and "
            "a host name must resolve to public addresses (list the IP literal to allow an internal one). "
            "Default: none, `jwks_uri` refused at registration (400 invalid_client_metadata; clients send "
            "`jwks`). Limits and cache: docs/client-authentication.md."))
    outbound_ca_file: str | None = Field(None, description=(
        "A PEM bundle of extra certificate authorities trusted for Keyturn's own outbound https requests "
        "(a client's `jwks_uri`), besides the system trust store. Default: the system store only."))
    metrics_token: str | None = Field(None, description=(
        "If set, `GET /metrics` also requires `Authorization: Bearer <this value>` (compared in constant "
        "time; 401 otherwise), from an allowed address. Prometheus: `authorization: {credentials: …}`."))

    access_token_ttl: int = Field(3600, ge=60, le=86400, description="Access token lifetime, seconds.")
    access_token_alg: SigningAlg = Field("ES256", description="Signing algorithm of access tokens.")
    id_token_alg: SigningAlg = Field("RS256", description="Default signing algorithm of ID tokens.")
    clock_leeway: int = Field(
        10, ge=0, le=60, description=(
            "Seconds a token's `nbf`/`iat` may lie in the future (clock difference between nodes) wherever "
            "Keyturn verifies a token; `exp` is exact at the issuer (docs/tokens.md)."))
    user_refresh_ttl: int = Field(
        60 * 86400, ge=60, description="Absolute lifetime of a user's refresh-token family, seconds."
    )
    refresh_idle_ttl: int = Field(
        0, ge=0, description=(
            "A refresh token unused this many seconds expires (RFC 9700 4.14.2), however long its family has "
            "left. 0 (the default, as seed 001 states: \"expires after 60 days or when revoked\"): no idle "
            "limit, only the family's absolute lifetime; a value of at least 60 turns one on (docs/tokens.md)."))
    refresh_reuse_grace: int = Field(
        0, ge=0, le=60, description=(
            "Seconds after a refresh token's rotation during which the same client presenting the same token "
            "again (two browser tabs renewing at once, a lost response retried) gets the identical answer "
            "again, successor refresh token included, instead of its family being revoked. 0 (the default): "
            "strict rotation, any reuse revokes the family (docs/client-authentication.md)."))
    default_credential_refresh: str | None = Field(
        "1d", description="Refresh lifetime of a new credential when none is given (seed 000 shows `1d`)."
    )
    code_ttl: int = Field(60, ge=10, le=600, description="Authorization code lifetime, seconds.")
    session_idle_ttl: int = Field(8 * 3600, ge=60, description="Login session idle timeout, seconds.")
    session_max_ttl: int = Field(7 * 86400, ge=60, description="Login session absolute lifetime, seconds.")
    secret_rotation_overlap: int = Field(
        86400, ge=0, description="Seconds a rotated client secret keeps working beside the new one."
    )
    key_prepublish_seconds: int = Field(
        0, ge=0, description="A rotated signing key is published this long before it signs (cache TTL of RSs)."
    )
    allowed_scopes: tuple[str, ...] | None = Field(
        None, description=(
            "Scopes the operator adds to the catalogue credential creators may grant, besides the policy's "
            "`scopes:` and the permissions the creator holds (space-separated in env; `keyturn:*` is never "
            "grantable; docs/management-api.md)."))
    credential_create_limit: int = Field(
        20, ge=1,
        description="Credentials one user may create per hour (sliding window, shared through Redis if set); then 429.")
    allow_plain_pkce: bool = Field(False, description="Accept code_challenge_method=plain (RFC 7636); off.")
    registration: Literal["off", "initial_token", "user_token"] = Field(
        "off", description="RFC 7591 dynamic client registration at /register: off (not served, not advertised); "
        "initial_token: a Bearer initial access token from `keyturn registration initial-token issue`; user_token: "
        "that, or a signed-in user's access token (the user then owns the client). `serve --demo` sets initial_token "
        "unless set (docs/registration.md).")
    registration_limit: int = Field(
        20, ge=1, description="Registrations per hour from one source address (sliding window, shared through "
        "Redis if set); then 429.")
    par_lifetime: int = Field(60, ge=5, le=60, description=(
        "Seconds a `request_uri` from the pushed authorization request endpoint (`POST /par`, RFC 9126) may be "
        "brought to `/authorize`; used up when its code is issued; at most 60 (FAPI 2.0 §5.3.2.2: < 600; "
        "docs/fapi2.md)."))
    require_par: bool = Field(False, description=(
        "Require pushed authorization requests (RFC 9126 §5) of every client: `/authorize` takes only "
        "`client_id` + `request_uri`; off: only clients registered with `require_pushed_authorization_requests`."))
    fapi2: bool = Field(False, description=(
        "Hold every OIDC (authorization-code) client to the FAPI 2.0 Security Profile, whatever its own `fapi2` "
        "flag: confidential only, private_key_jwt or tls_client_auth, PAR, S256, DPoP- or certificate-bound "
        "tokens, codes of at most 60 s, PS256/ES256/EdDSA only; discovery advertises only that. Seed 000's "
        "credentials are not covered (only by their own flag). docs/fapi2.md."))
    fapi2_refresh_rotation: bool = Field(False, description=(
        "Rotate the refresh tokens of FAPI 2.0 clients (FAPI 2.0 §5.3.2.1 says not to, except in extraordinary "
        "circumstances). Off (the default): their refresh grant returns a new access token and no new refresh "
        "token. On: rotation with a reuse grace window of `refresh_reuse_grace`, at least 10 s (docs/fapi2.md)."))
    client_cache_ttl: float = Field(
        1.0, ge=0, le=30, description="Seconds a worker caches a client/key record (bounds revocation lag)."
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body accepted.")
    policy_file: Path | None = Field(None, description=(
        "Role/permission policy file (docs/policy.md); default is the seed's. "
        "`examples/policies/centrapay-2026.yaml` in the repository is Centrapay's 2026 table."))
    login_max_failures: int = Field(5, ge=1, description="Failed logins per account before back-off grows.")
    default_phone_region: str | None = Field(None, description=(
        "ISO 3166 alpha-2 region (`GB`, `NZ`) for phone numbers typed without `+` at login and user creation "
        "(`07700 900123` → `+447700900123`); unset: only numbers typed with a leading `+` are phone numbers."))

    account_header: str = Field(
        DEFAULT_ACCOUNT_HEADER, min_length=1, max_length=64, description=(
            "The request header that names the account a call acts on: the management API's account selection, "
            "the decision endpoint's and `/auth/forward`'s target account, and CORS's allowed request headers "
            "(Centrapay: `X-Centrapay-Account`). One header only: when another name is set, a request still "
            "sending `X-Keyturn-Account` is refused, never read (docs/management-api.md). An HTTP field name "
            "(RFC 9110 token) that is none of the headers Keyturn reads or writes for something else."))

    @field_validator("account_header", mode="before")
    @classmethod
    def _check_account_header(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            problem = account_header_problem(v)
            if problem is not None:
                raise ValueError(problem)
        return v

    @field_validator("default_phone_region", mode="before")
    @classmethod
    def _check_phone_region(cls, v: Any) -> Any:
        from keyturn.core.identifiers import is_region
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if not isinstance(v, str) or not is_region(v.strip().upper()):
            raise ValueError("must be an ISO 3166 alpha-2 region code such as GB or NZ")
        return v.strip().upper()
    client_auth_max_failures: int = Field(
        20, ge=1, description="Failed client authentications per client per minute before 429."
    )
    purge_interval: float = Field(
        300.0, ge=0, le=86400, description=(
            "Seconds between runs of the purge task every serving process runs (each wait jittered ±20% so "
            "nodes spread out); it deletes expired codes, interactions, sessions, revoked-token and throttle "
            "rows, refresh tokens of dead families and dead grants. 0: no background purge (run `keyturn purge` "
            "from a scheduler instead; docs/deployment.md)."))
    purge_batch: int = Field(
        500, ge=1, le=10000, description=(
            "Rows one purge statement deletes (one short transaction each, repeated until fewer are left)."))
    purge_grace: int = Field(
        3600, ge=0, description=(
            "Seconds past its expiry (or its grant's death) a row is kept before the purge deletes it."))
    audit_retention: int = Field(
        0, ge=0, description="Seconds audit events are kept (the purge deletes older ones); 0: kept forever.")
    key_encryption_secret: str | None = Field(
        None, description="If set, signing private keys are encrypted at rest with a key derived from it."
    )
    redis_url: str | None = Field(None, description=(
        "Redis (`redis://host:6379/0`, `rediss://…` for TLS): limits, replay caches and change notices shared by "
        "every worker and node; unset: each process counts on its own (docs/deployment.md, Redis)."))
    redis_prefix: str = Field(
        "keyturn:", min_length=1, max_length=64,
        description="Prefix of every Redis key and channel Keyturn uses (several deployments can share a Redis).")
    redis_timeout: float = Field(0.25, gt=0, le=5, description=(
        "Seconds one Redis call may take; a slower or failed call sends limits to in-process counting for 1 s "
        "and replay checks to 503 (docs/deployment.md, Redis)."))

    dpop: bool = Field(True, description=(
        "Accept DPoP proofs (RFC 9449) at the token endpoint and DPoP-bound access tokens at every resource "
        "Keyturn serves; off: a `DPoP` header is ignored at the token endpoint, discovery lists no DPoP "
        "algorithms and clients that require DPoP cannot get tokens (docs/dpop.md)."))
    dpop_signing_algs: Annotated[tuple[str, ...], NoDecode] = Field(
        ("ES256", "PS256", "EdDSA", "ES384"), description=(
            "Algorithms a DPoP proof may be signed with (comma- or space-separated; asymmetric only, from "
            "ES256 ES384 ES512 PS256 PS384 PS512 EdDSA RS256 RS384 RS512). The default is FAPI 2.0's: no RS*."))
    dpop_proof_window: int = Field(60, ge=5, le=300, description=(
        "Seconds a DPoP proof's `iat` may lie in the past (plus `clock_leeway` either way); its `jti` is "
        "remembered this long (shared through Redis when set) so a replay is refused."))
    dpop_nonce_required: bool = Field(False, description=(
        "Require a server-provided nonce in every DPoP proof (RFC 9449 §8, §9): a proof without a current one "
        "gets `use_dpop_nonce` with a `DPoP-Nonce` header. Needs `dpop_nonce_secret`."))
    dpop_nonce_secret: str | None = Field(None, description=(
        "Secret (at least 32 characters, the same on every node) the stateless DPoP nonces are derived from "
        "(an HMAC of the time window); a nonce is accepted for 2 × `dpop_nonce_lifetime` seconds at most."))
    dpop_nonce_lifetime: int = Field(300, ge=10, le=3600, description="Seconds one DPoP nonce is handed out.")
    client_assertion_max_lifetime: int = Field(300, ge=30, le=3600, description=(
        "private_key_jwt (RFC 7523): how far ahead of now a client assertion's `exp` may lie, seconds (plus "
        "`clock_leeway`); its `jti` is remembered until `exp` (shared through Redis when set). Authlib signs "
        "assertions valid for 3600 s unless told otherwise (docs/client-authentication.md)."))

    @field_validator("dpop_signing_algs", mode="before")
    @classmethod
    def _check_dpop_algs(cls, v: Any) -> Any:
        from keyturn.core.dpop import KNOWN_ALGS
        items = v.replace(",", " ").split() if isinstance(v, str) else v
        if not isinstance(items, list | tuple):
            return v
        unknown = [a for a in items if a not in KNOWN_ALGS]
        if unknown or not items:
            raise ValueError(f"must be asymmetric JWS algorithms among {' '.join(KNOWN_ALGS)}")
        return tuple(items)

    @field_validator("allowed_scopes", mode="before")
    @classmethod
    def _split_scopes(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(v.split())
        return v

    @field_validator("metrics_allow", "trusted_proxies", mode="before")
    @classmethod
    def _check_networks(cls, v: Any) -> Any:
        import ipaddress
        items = v.replace(",", " ").split() if isinstance(v, str) else v
        if not isinstance(items, list | tuple):
            return v
        try:
            return tuple(str(ipaddress.ip_network(str(item).strip(), strict=False)) for item in items)
        except ValueError as exc:
            raise ValueError(f"must be CIDR blocks such as 10.0.0.0/8 ({exc})") from None

    @field_validator("jwks_uri_allowed_hosts", mode="before")
    @classmethod
    def _check_hosts(cls, v: Any) -> Any:
        from urllib.parse import urlsplit
        items = v.replace(",", " ").split() if isinstance(v, str) else v
        if not isinstance(items, list | tuple):
            return v
        out = []
        for item in items:
            text = str(item).strip().lower()
            try:
                parts = urlsplit(f"https://{text}")
                port = parts.port
            except ValueError:
                raise ValueError(f"{text!r} must be host or host:port") from None
            host = parts.hostname
            if not host or parts.path or parts.query or parts.fragment or "@" in text or port == 0:
                raise ValueError(f"{text!r} must be host or host:port")
            host = f"[{host}]" if ":" in host else host
            out.append(host if port in (None, 443) else f"{host}:{port}")
        return tuple(out)

    @field_validator("outbound_ca_file")
    @classmethod
    def _check_ca_file(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"{v!r} is not a readable file")
        return v

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, v: str | None) -> str | None:
        if v is not None and (len(v) < 16 or not v.isascii() or not v.isprintable() or " " in v):
            raise ValueError("must be at least 16 printable ASCII characters without spaces")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("refresh_idle_ttl")
    @classmethod
    def _check_idle(cls, v: int) -> int:
        if 0 < v < 60:
            raise ValueError("must be 0 (no idle limit) or at least 60 seconds")
        return v

    @field_validator("issuer")
    @classmethod
    def _strip_issuer(cls, v: str) -> str:
        return v.rstrip("/")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.issuer.startswith(("https://", "http://")):
            raise ValueError("issuer must be an absolute http(s) URL")
        if self.issuer.startswith("http://") and self.environment != "development":
            raise ValueError(
                "issuer must be https outside development (set KEYTURN_ENVIRONMENT=development for local use)"
            )
        if self.dpop_nonce_required and len(self.dpop_nonce_secret or "") < 32:
            raise ValueError("dpop_nonce_required needs dpop_nonce_secret of at least 32 characters")
        if self.mtls_cert_header and not self.trusted_proxies:
            raise ValueError("mtls_cert_header needs trusted_proxies: the header is read only from a trusted proxy")
        if self.mtls_verify_header and not self.mtls_cert_header:
            raise ValueError("mtls_verify_header needs mtls_cert_header: it is the verification of that certificate")
        return self

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")


def _file_values(path: str) -> dict[str, Any]:
    """A TOML file (``*.toml``: ``issuer = "https://…"``, keys are field names, optionally under
    ``[keyturn]``); only fields not set in the environment are taken from it."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    data = data.get("keyturn", data)
    unknown = set(data) - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(sorted(unknown))}")
    return {k: v for k, v in data.items() if f"KEYTURN_{k.upper()}" not in os.environ}


def load_settings(*, warn: bool = True, **overrides: Any) -> Settings:
    """Build the settings: overrides, then ``KEYTURN_*`` variables, then ``KEYTURN_SETTINGS_FILE``
    (a TOML file if it ends in ``.toml``, else a dotenv file of ``KEYTURN_*=value`` lines), then defaults.
    ``warn=False``: the caller configures logging first, then calls :func:`warn_development`."""
    env_file = os.environ.get("KEYTURN_SETTINGS_FILE")
    kwargs: dict[str, Any] = {}
    if env_file and env_file.endswith(".toml"):
        kwargs.update(_file_values(env_file))
    elif env_file:
        kwargs["_env_file"] = env_file
    kwargs.update(overrides)
    settings = Settings(**kwargs)
    if warn:
        warn_development(settings)
    return settings


def warn_development(settings: Settings) -> None:
    if settings.environment == "development":
        log.warning("KEYTURN_ENVIRONMENT=development: http issuer allowed; never use this in production")
