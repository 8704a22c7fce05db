"""Domain records: plain frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Literal, TypeVar

ClientKind = Literal["credential", "oidc"]
PrincipalKind = Literal["user", "api_key", "credential"]
ScopeSource = Literal["capability", "permission", "operator"]
R = TypeVar("R")

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"


MAX_CLIENT_ID = 64


def is_client_id(value: str) -> bool:
    """RFC 6749 Appendix A.1: client-id = *VSCHAR (%x20-7E), at most 64 here. Anything else cannot be ours."""
    return 0 < len(value) <= MAX_CLIENT_ID and value.isascii() and value.isprintable()  # printable ASCII = VSCHAR


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str | None
    phone_number: str | None
    given_name: str | None
    family_name: str | None
    preferred_username: str | None
    email_verified: bool
    phone_number_verified: bool
    password_hash: str | None
    disabled: bool
    created_at: float
    updated_at: float
    password_changed_at: float | None = None


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    kind: ClientKind
    name: str
    owner_id: str | None
    account_id: str | None
    role: str | None
    secret_digest: str | None
    prev_secret_digest: str | None
    prev_secret_expires_at: float | None
    is_public: bool
    public_id: str | None
    domain: str | None
    scope: str
    refresh: str | None
    status: int
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    first_party: bool
    refresh_enabled: bool
    id_token_alg: str | None
    revoke_refresh_on_logout: bool
    expiration: float | None
    created_at: float
    updated_at: float
    deleted_at: float | None = None
    rate_limit: str | None = None  # N/S requests per seconds at the token endpoint (keyturn.core.ratelimit)
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2: a token request without a DPoP proof is refused
    # RFC 7591 metadata kept as registered (token_endpoint_auth_method, client_uri, contacts…; docs/registration.md)
    registered_metadata: dict[str, Any] | None = None
    registration_digest: str | None = None  # RFC 7592: the registration access token's digest (dynamic clients)

    @property
    def auth_method(self) -> str | None:
        """The token endpoint authentication method registered for this client, if one was (RFC 7591 §2)."""
        method = (self.registered_metadata or {}).get("token_endpoint_auth_method")
        return method if isinstance(method, str) else None
    # RFC 9126 §5: its authorization requests must be pushed (POST /par) first
    require_pushed_authorization_requests: bool = False
    # Held to the FAPI 2.0 Security Profile (keyturn.services.fapi; KEYTURN_FAPI2 holds every OIDC client to it)
    fapi2: bool = False

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())

    def active(self, now: float) -> bool:
        return (self.status == 0 and self.deleted_at is None
                and (self.expiration is None or now < self.expiration))


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    type: str
    test: bool
    flags: tuple[str, ...]
    subscriptions: tuple[str, ...]
    created_at: float
    created_by: str | None
    updated_at: float
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class Membership:
    account_id: str
    user_id: str
    role: str
    account_name: str = ""
    account_type: str = ""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str
    name: str
    role: str
    hint: str
    enabled: bool
    created_at: float
    created_by: str | None
    updated_at: float
    last_used_at: float | None
    rate_limit: str | None = None  # N/S requests per seconds at the management API (keyturn.core.ratelimit)
    imported: bool = False  # brought over from another service in its own format (not kt_live_/kt_test_)
    updated_by: str | None = None  # who last changed it (created_by until then); None: unknown (before 0007)


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    client_id: str
    user_id: str | None
    account_id: str | None
    grant_type: str
    scope: str
    session_id: str | None
    auth_time: float | None
    created_at: float
    expires_at: float
    revoked_at: float | None
    dpop_jkt: str | None = None  # RFC 9449 §5: a public client's refresh tokens are bound to this key
    mtls_x5t: str | None = None  # RFC 8705 §4: a public client's refresh tokens are bound to this certificate


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a grant's family (stored as its digest), with the grant's ``client_id``."""

    digest: str
    grant_id: str
    client_id: str
    generation: int
    scope: str
    issued_at: float
    expires_at: float
    used_at: float | None


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """An authorization code (stored as its digest) and the authorization request it answers."""

    digest: str
    client_id: str
    user_id: str
    redirect_uri: str
    redirect_uri_sent: bool | None  # None: stored before migration 0002
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    session_id: str | None
    auth_time: float | None
    created_at: float
    expires_at: float
    used_at: float | None
    grant_id: str | None  # the grant its exchange created (a replay revokes it)
    dpop_jkt: str | None = None  # RFC 9449 §10: the authorization request's dpop_jkt; the exchange needs that key


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), kept while the user signs in."""

    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    prompt: tuple[str, ...]
    max_age: int | None
    login_hint: str | None
    # Whether the request carried redirect_uri (RFC 6749 §4.1.3: then the token request must repeat it).
    # None: unknown, for an interaction stored by a version that did not record it.
    redirect_uri_sent: bool | None = None
    dpop_jkt: str | None = None  # RFC 9449 §10: the key the code's token request must prove
    # The digest of the request_uri when the request was pushed (RFC 9126): spent when the code is issued.
    pushed: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form; ``pushed`` only when set, so a node of the previous version (rolling deploy) still
        loads every interaction that did not come from a pushed request."""
        data = asdict(self)
        if data["pushed"] is None:
            del data["pushed"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthorizationRequest:
        """Also loads interactions stored by older versions (fields added since take their default)."""
        d = dict(data)
        d["scope"] = tuple(d["scope"])
        d["prompt"] = tuple(d["prompt"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Interaction:
    """A pending authorization request waiting at the login or consent page (stored as the digest of its id).

    The only link between the hosted pages and the protocol: short-lived, single use, bound to the browser
    that started it (the digest of a cookie) and carrying its own CSRF token.
    """

    digest: str
    client_id: str
    stage: str  # "login" or "consent"
    request: AuthorizationRequest
    browser_digest: str  # of the browser-binding cookie's value
    csrf: str
    session_id: str | None  # the session signed in when a consent interaction was created (its digest)
    created_at: float
    expires_at: float
    used_at: float | None


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A login session at the provider (stored as the digest of its cookie's value)."""

    digest: str
    user_id: str
    auth_time: float
    created_at: float
    last_seen_at: float
    expires_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class Consent:
    """The scope a user allowed a client, remembered so the next authorization asking no more is silent."""

    user_id: str
    client_id: str
    scope: str
    created_at: float

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())


@dataclass(frozen=True, slots=True)
class Member:
    """A user's membership of an account, with the user's identifiers (the account's member list)."""

    user_id: str
    role: str
    created_at: float
    email: str | None
    preferred_username: str | None


@dataclass(frozen=True, slots=True)
class Throttle:
    """Failures counted under one key (login per identifier, per IP) and the lock they caused."""

    key: str
    failures: int
    window_start: float
    locked_until: float | None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as stored: the private key in PEM (encrypted with key_encryption_secret if set)."""

    kid: str
    alg: str
    private_pem: str
    public_jwk: dict[str, Any]
    created_at: float
    activates_at: float
    retired_at: float | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (access token), an API key, or a credential (client-credentials token)."""

    kind: PrincipalKind
    id: str  # user id, api key id, or client_id
    account_id: str | None = None  # bound account (keys, credentials) or the selected one (users)
    role: str | None = None  # bound role (keys, credentials)
    scopes: tuple[str, ...] | None = None  # None: not narrowed by a token
    client_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def resource_name(self) -> str:
        """A string naming who did something, for created_by/updated_by and audit events."""
        prefix = {"user": "user", "api_key": "api-key", "credential": "credential"}[self.kind]
        return f"{prefix}:{self.id}"


@dataclass(frozen=True, slots=True)
class InitialAccessToken:
    """An RFC 7591 §3 initial access token the operator issued (its digest is stored, never this record)."""

    id: str
    created_at: float
    created_by: str | None
    expires_at: float | None
    uses_left: int | None  # None: unlimited
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class Issued(Generic[R]):
    """A record a use case has just created or re-keyed, with the plaintext secret shown this once.

    Only the digest is stored, so this is the one moment the secret exists outside the caller's hands;
    ``secret`` is None for a record that has none (a public OIDC client). Build it as ``Issued(rec, s)``
    (Python 3.11 cannot construct a subscripted frozen, slotted generic).
    """

    record: R
    secret: str | None


@dataclass(frozen=True, slots=True)
class Grantable:
    """A scope a user may put in a credential's ``scope`` on one account, and why they may (the catalogue:
    the policy's capability scopes, a permission they hold there, an operator's addition)."""

    name: str
    description: str
    source: ScopeSource


@dataclass(frozen=True, slots=True)
class PushedRequest:
    """A pushed authorization request (RFC 9126 §2), stored by the digest of its ``request_uri``: the
    authorization request's parameters as the client sent them (client authentication removed)."""

    digest: str
    client_id: str
    params: dict[str, str]
    created_at: float
    expires_at: float
    used_at: float | None
