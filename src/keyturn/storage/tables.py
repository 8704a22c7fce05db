"""The schema, as SQLAlchemy Core tables (one definition for SQLite and PostgreSQL).

Times are epoch seconds as floats (one unit everywhere, so an expiry check and
a cache TTL can never disagree on units). Server-generated secrets appear only
as SHA-256 hex digests (``*_digest`` columns).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 36
DIGEST = 64

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(320), unique=True, nullable=True),
    Column("phone_number", String(32), unique=True, nullable=True),
    Column("given_name", String(200), nullable=True),
    Column("family_name", String(200), nullable=True),
    Column("preferred_username", String(100), unique=True, nullable=True),
    Column("email_verified", Boolean, nullable=False, default=False),
    Column("phone_number_verified", Boolean, nullable=False, default=False),
    Column("password_hash", String(200), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("password_changed_at", Float, nullable=True),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("test", Boolean, nullable=False, default=False),
    Column("flags", JSON, nullable=False, default=list),
    Column("subscriptions", JSON, nullable=False, default=list),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(200), nullable=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_memberships_user", "user_id"),
)

# A user owns at most one individual account: enforced by a unique row here.
individual_accounts = Table(
    "individual_accounts",
    metadata,
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, unique=True),
)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),  # credential | oidc
    Column("name", String(200), nullable=False),
    Column("owner_id", String(ID), ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("account_id", String(ID), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(100), nullable=True),
    Column("secret_digest", String(DIGEST), nullable=True),
    Column("prev_secret_digest", String(DIGEST), nullable=True),
    Column("prev_secret_expires_at", Float, nullable=True),
    Column("is_public", Boolean, nullable=False, default=False),
    Column("public_id", String(40), nullable=True),
    Column("domain", Text, nullable=True),
    Column("scope", Text, nullable=False, default=""),
    Column("refresh", String(20), nullable=True),
    Column("status", Integer, nullable=False, default=0),  # 0 active, 1 disabled
    Column("grant_types", JSON, nullable=False, default=list),
    Column("redirect_uris", JSON, nullable=False, default=list),
    Column("post_logout_redirect_uris", JSON, nullable=False, default=list),
    Column("allowed_origins", JSON, nullable=False, default=list),
    Column("first_party", Boolean, nullable=False, default=False),
    Column("refresh_enabled", Boolean, nullable=False, default=True),
    Column("id_token_alg", String(10), nullable=True),
    Column("revoke_refresh_on_logout", Boolean, nullable=False, default=False),
    Column("expiration", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
    Column("rate_limit", String(20), nullable=True),  # N/S: a request quota at the token endpoint (0003)
    # RFC 9449 §5.2: token requests of this client must carry a DPoP proof (0008)
    Column("dpop_bound_access_tokens", Boolean, nullable=False, default=False, server_default=false()),
    # RFC 7591 registration (0010): the metadata kept as registered (token_endpoint_auth_method, client_uri…),
    # and the digest of the RFC 7592 registration access token of a dynamically registered client
    Column("registered_metadata", JSON, nullable=True),
    Column("registration_digest", String(DIGEST), nullable=True),
    # RFC 9126 §5 (0011): authorization requests of this client must be pushed first
    Column("require_pushed_authorization_requests", Boolean, nullable=False, default=False,
           server_default=false()),
    # FAPI 2.0 Security Profile (0013): this client is held to it (keyturn.services.fapi)
    Column("fapi2", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_clients_owner", "owner_id"),
    Index("ix_clients_account", "account_id"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(10), nullable=False),
    Column("private_pem", Text, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("activates_at", Float, nullable=False),
    Column("retired_at", Float, nullable=True),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("account_id", String(ID), nullable=True),
    Column("grant_type", String(40), nullable=False),
    Column("scope", Text, nullable=False, default=""),
    Column("session_id", String(DIGEST), nullable=True),
    Column("auth_time", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("revoked_reason", String(100), nullable=True),
    Column("dpop_jkt", String(64), nullable=True),  # RFC 9449 §5: a public client's refresh tokens' key (0008)
    # RFC 8705 §4: the x5t#S256 of the certificate a public client's refresh tokens are bound to (0012)
    Column("mtls_x5t", String(64), nullable=True),
    Index("ix_grants_client", "client_id"),
    Index("ix_grants_user", "user_id"),
    Index("ix_grants_session", "session_id"),
    Index("ix_grants_expires_at", "expires_at"),  # the purge (migration 0004)
    Index("ix_grants_revoked_at", "revoked_at"),  # the purge; the revocation cache's recent revocations
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("digest", String(DIGEST), primary_key=True),
    Column("grant_id", String(ID), ForeignKey("grants.id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("scope", Text, nullable=False, default=""),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    # The answer of this token's rotation, sealed with the token itself (core/reissue.py), kept only while a
    # repeat may get it again (KEYTURN_REFRESH_REUSE_GRACE); null otherwise and once purged.
    Column("reissue", LargeBinary, nullable=True),
    Index("ix_refresh_tokens_grant", "grant_id"),
    Index("ix_refresh_tokens_reissue", "used_at", sqlite_where=text("reissue IS NOT NULL"),
          postgresql_where=text("reissue IS NOT NULL")),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("digest", String(DIGEST), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    # RFC 6749 §4.1.3: whether the authorization request carried redirect_uri (then the token request must
    # repeat it). NULL: written before migration 0002 (or by an older node during a rolling deploy).
    Column("redirect_uri_sent", Boolean, nullable=True),
    Column("scope", Text, nullable=False, default=""),
    Column("nonce", Text, nullable=True),
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(10), nullable=True),
    Column("session_id", String(DIGEST), nullable=True),
    Column("auth_time", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("grant_id", String(ID), nullable=True),
    Column("dpop_jkt", String(64), nullable=True),  # RFC 9449 §10: the authorization request's dpop_jkt (0008)
    Index("ix_authorization_codes_expires_at", "expires_at"),  # the purge (migration 0004)
)

sessions = Table(
    "sessions",
    metadata,
    Column("digest", String(DIGEST), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("auth_time", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Index("ix_sessions_user", "user_id"),
    Index("ix_sessions_expires_at", "expires_at"),  # the purge (migration 0004)
    Index("ix_sessions_last_seen_at", "last_seen_at"),
    Index("ix_sessions_ended_at", "ended_at"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Index("ix_interactions_expires_at", "expires_at"),  # the purge (migration 0004)
)

# RFC 9126 §2.2 (0010): a pushed authorization request, by the SHA-256 digest of its request_uri; single use
# (used_at), short-lived (expires_at, KEYTURN_PAR_LIFETIME); ``params`` are the request's parameters.
pushed_requests = Table(
    "pushed_requests",
    metadata,
    Column("digest", String(DIGEST), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Index("ix_pushed_requests_expires_at", "expires_at"),  # the purge
)

consents = Table(
    "consents",
    metadata,
    Column("user_id", String(ID), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True),
    Column("scope", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(100), nullable=False),
    Column("digest", String(DIGEST), nullable=False, unique=True),
    Column("hint", String(24), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("rate_limit", String(20), nullable=True),  # N/S: a request quota at the management API (0003)
    # brought over from another service, in its own format (0006); false: minted here (kt_live_/kt_test_)
    Column("imported", Boolean, nullable=False, default=False, server_default=false()),
    Column("updated_by", String(200), nullable=True),  # who last changed it (0007); null: unknown
    UniqueConstraint("account_id", "name", name="uq_api_keys_account_name"),
)

# RFC 7591 §3 initial access tokens, issued by the operator (0010): the digest only; ``uses_left`` null: unlimited
initial_access_tokens = Table(
    "initial_access_tokens",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("digest", String(DIGEST), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("expires_at", Float, nullable=True),
    Column("uses_left", Integer, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Index("ix_revoked_tokens_expires_at", "expires_at"),  # the purge (migration 0004)
)

throttles = Table(
    "throttles",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("window_start", Float, nullable=False),
    Column("locked_until", Float, nullable=True),
    Index("ix_throttles_window_start", "window_start"),  # the purge (migration 0004)
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("event", String(60), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("subject", String(200), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_audit_events_at", "at"),
    # the audit query's filters, each in paging order (migration 0005)
    Index("ix_audit_events_event_at", "event", "at", "id"),
    Index("ix_audit_events_actor_at", "actor", "at", "id"),
    Index("ix_audit_events_subject_at", "subject", "at", "id"),
    Index("ix_audit_events_client_id_at", "client_id", "at", "id"),
)
